//===- ActivationGradTest.cpp - leaky_relu, sigmoid, tanh, gelu, softmax --===//
#include "GradCheck.h"

using namespace mtl::gradcheck;

namespace {
std::string unary(const std::string &op, const std::string &attrs) {
  return R"(func.func @model() {
  %x = mtl.param "x" : tensor<3x2x2x5xf32>
  %y = mtl.)" +
         op + " %x " + attrs +
         R"( : (tensor<3x2x2x5xf32>) -> tensor<*xf32>
)" + mseTail("%y", "3x2x2x5", 3);
}
} // namespace

TEST(ActivationGrad, LeakyRelu) {
  gradCheck(unary("leaky_relu", "{alpha = 0.2}"));
}
TEST(ActivationGrad, Sigmoid) { gradCheck(unary("sigmoid", "")); }
TEST(ActivationGrad, Tanh) { gradCheck(unary("tanh", "")); }
TEST(ActivationGrad, Gelu) { gradCheck(unary("gelu", "")); }
TEST(ActivationGrad, SoftmaxLastAxis) {
  gradCheck(unary("softmax", ""), false, 20);
}

// softmax on [N, C] logits followed by a dense layer (a rank-2 row op).
TEST(ActivationGrad, SoftmaxRank2IntoDense) {
  gradCheck(R"(func.func @model() {
  %x = mtl.param "x" : tensor<4x17xf32>
  %s = mtl.softmax %x : (tensor<4x17xf32>) -> tensor<*xf32>
  %w = mtl.param "w" : tensor<17x3xf32>
  %y = mtl.dense %s, %w : (tensor<*xf32>, tensor<17x3xf32>) -> tensor<*xf32>
)" + mseTail("%y", "4x3", 4));
}
