//===- Spec.h - The model spec AST ---------------------------------------===//
//
// What a TOML model spec says, with the source location of every item so
// that later stages (shape inference, MLIR generation) report errors as
// file:line:col. Plain C++: shared by the MLIR side and the Halide side.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_FRONTEND_SPEC_H
#define MTL_FRONTEND_SPEC_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mtl::spec {

struct SourceLoc {
  std::string file;
  int line = 0;
  int col = 0;
  std::string str() const; // "file:line:col"
};

/// One layer: `op` plus its keys. Layers of the backbone and of heads are
/// the same thing; `inputs` names the layers it reads (empty = the previous
/// layer in its list, or for the first layer of a head the task's `from`).
struct Layer {
  std::string name; // unique within the model; generated when not given
  std::string op;   // dense | conv2d | relu | max_pool | flatten
  std::vector<std::string> inputs;
  std::vector<SourceLoc> inputLocs; // where each entry of `inputs` is written
  // Op keys (only those meaningful for `op` are set; checked by the parser).
  int64_t units = 0;                        // dense
  int64_t filters = 0;                      // conv2d
  std::vector<int64_t> kernel;              // conv2d, max_pool: [kh, kw]
  std::vector<int64_t> stride;              // conv2d, max_pool: [sh, sw]
  std::vector<int64_t> padding;             // conv2d: [ph, pw]
  bool bias = true;                         // dense, conv2d
  SourceLoc loc;                            // the layer's table
  std::map<std::string, SourceLoc> keyLocs; // location of each key given
};

struct Task {
  std::string name;
  std::string from; // backbone layer the head reads ("" = backbone output)
  std::vector<Layer> head;
  std::string loss;                 // softmax_cross_entropy | mse
  std::string target;               // label | image
  std::vector<int64_t> targetMap;   // optional: class id -> target class
  std::vector<std::string> metrics; // accuracy | mse
  double weight = 1.0;
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Input {
  std::string name = "image";
  std::vector<int64_t> shape; // [H, W, C]
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Data {
  std::string format = "idx"; // idx (gzip or raw)
  std::string dir;            // default: /usr/share/datasets/fashion-mnist
  std::string trainImages = "train-images-idx3-ubyte.gz";
  std::string trainLabels = "train-labels-idx1-ubyte.gz";
  std::string testImages = "t10k-images-idx3-ubyte.gz";
  std::string testLabels = "t10k-labels-idx1-ubyte.gz";
  int64_t limitTrain = 0; // 0 = all samples
  int64_t limitTest = 0;
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Train {
  std::string optimizer = "adam"; // sgd | adam
  double lr = 1e-3;
  double momentum = 0.0;                         // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8; // adam
  double weightDecay = 0.0;
  int64_t batch = 128;
  int64_t epochs = 1;
  uint64_t seed = 1;
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Compile {
  std::string target = "cpu"; // cpu | cuda
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Spec {
  std::string file; // path of the spec
  std::string name; // model name
  SourceLoc nameLoc;
  std::map<std::string, SourceLoc> keyLocs; // each top-level table given
  Input input;
  std::vector<Layer> backbone;
  std::vector<Task> tasks; // in file order
  Data data;
  Train train;
  Compile compile;
};

} // namespace mtl::spec

#endif // MTL_FRONTEND_SPEC_H
