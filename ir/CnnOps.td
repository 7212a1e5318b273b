//===- CnnOps.td - CNN building blocks of the mtl dialect --*- tablegen -*-===//
//
// Activations, pooling, upsampling, channel concat / residual add,
// transposed convolution and layer norm, with their gradient ops. Included
// from MtlOps.td (it uses Mtl_InferredOp / Mtl_GradOp from there). Shape
// rules: ir/CnnShapeRules.cpp; verifiers: ir/CnnVerifiers.cpp; gradient
// rules: passes/autodiff/{Activation,Cnn*}Grad.cpp; lowering:
// codegen/ops/Cnn*.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_CNN_OPS_TD
#define MTL_CNN_OPS_TD

//===----------------------------------------------------------------------===//
// Activations (elementwise, any shape)
//===----------------------------------------------------------------------===//

class Mtl_UnaryOp<string mnemonic, string sum> : Mtl_InferredOp<mnemonic> {
  let summary = sum;
  let arguments = (ins Mtl_F32Tensor:$input);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_LeakyReluOp : Mtl_InferredOp<"leaky_relu"> {
  let summary = "x if x > 0, else alpha * x";
  let description = [{
    `alpha` (default 0.01) is the slope for negative inputs, `alpha >= 0`.
  }];
  let arguments = (ins Mtl_F32Tensor:$input,
                       DefaultValuedAttr<F64Attr, "0.01">:$alpha);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_SigmoidOp : Mtl_UnaryOp<"sigmoid", "1 / (1 + exp(-x))">;
def Mtl_TanhOp : Mtl_UnaryOp<"tanh", "hyperbolic tangent">;

def Mtl_GeluOp : Mtl_UnaryOp<"gelu", "GELU, tanh approximation"> {
  let description = [{
    The tanh approximation (as PyTorch `approximate="tanh"`):
    `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
  }];
}

def Mtl_SoftmaxOp : Mtl_UnaryOp<"softmax", "softmax over the last axis"> {
  let description = [{
    `y[..., i] = exp(x[..., i] - m) / sum_j exp(x[..., j] - m)`, `m` the
    maximum of the row (numerically stable).
  }];
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

def Mtl_LayerNormOp : Mtl_InferredOp<"layer_norm"> {
  let summary = "layer normalization over the last axis, with gamma and beta";
  let description = [{
    `y = (x - mean) / sqrt(var + eps) * gamma + beta`, mean and (biased)
    variance over the last axis of `x`; `gamma`, `beta`: `[C]`, `C` the last
    dimension of `x`.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$gamma,
                       Mtl_F32Tensor:$beta,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Pooling and resampling (NHWC)
//===----------------------------------------------------------------------===//

def Mtl_AvgPoolOp : Mtl_InferredOp<"avg_pool"> {
  let summary = "2-D average pooling over NHWC";
  let description = [{
    The mean of each `kernel` window, windows `stride` apart; output size
    `(H + 2 ph - KH) / sh + 1` (floor). `padding` (absent = 0) pads with
    zeros that count in the mean (PyTorch's `count_include_pad=True`).
  }];
  let arguments = (ins Mtl_F32Tensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_GlobalAvgPoolOp : Mtl_UnaryOp<"global_avg_pool",
    "mean over H and W: [N, H, W, C] -> [N, C]">;

def Mtl_UpsampleOp : Mtl_InferredOp<"upsample"> {
  let summary = "2-D upsampling by an integer scale, nearest or bilinear";
  let description = [{
    `[N, H, W, C] -> [N, H * sh, W * sw, C]`. `mode = "nearest"` repeats each
    pixel; `mode = "bilinear"` interpolates with half-pixel centers and
    clamped borders (PyTorch `align_corners=False`).
  }];
  let arguments = (ins Mtl_F32Tensor:$input, DenseI64ArrayAttr:$scale,
                       DefaultValuedStrAttr<StrAttr, "nearest">:$mode);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Graph joins
//===----------------------------------------------------------------------===//

def Mtl_ConcatOp : Mtl_InferredOp<"concat"> {
  let summary = "concatenation along the last (channel) axis";
  let description = [{
    Two or more inputs of equal rank whose shapes agree except in the last
    dimension; the result's last dimension is the sum of theirs.
  }];
  let arguments = (ins Variadic<Mtl_F32Tensor>:$inputs);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, results)";
}

def Mtl_AddOp : Mtl_InferredOp<"add"> {
  let summary = "elementwise sum of two or more tensors of one shape";
  let description = [{ The residual connection: `y = a + b (+ ...)`. }];
  let arguments = (ins Variadic<Mtl_F32Tensor>:$inputs);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, results)";
}

//===----------------------------------------------------------------------===//
// Transposed convolution
//===----------------------------------------------------------------------===//

def Mtl_ConvTranspose2DOp : Mtl_InferredOp<"conv_transpose2d"> {
  let summary = "2-D transposed convolution, NHWC input, [kh, kw, cout, cin] filter";
  let description = [{
    The adjoint of `conv2d` with the same stride and padding:
    `y[n, oh*sh + kh - ph, ow*sw + kw - pw, co] += x[n, oh, ow, ci] *
    w[kh, kw, co, ci]`, plus `b[co]`. Output size
    `(H - 1) sh - 2 ph + KH + oph`; `output_padding` (each < stride) picks
    among the sizes a strided conv2d maps to the input size.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$filter,
                       Optional<Mtl_F32Tensor>:$bias,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$output_padding);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $filter (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Gradient ops of the ops above
//===----------------------------------------------------------------------===//

def Mtl_LeakyReluGradOp : Mtl_GradOp<"leaky_relu_grad"> {
  let summary = "dy where x > 0, else alpha * dy";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input,
                       DefaultValuedAttr<F64Attr, "0.01">:$alpha);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_SigmoidGradOp : Mtl_GradOp<"sigmoid_grad"> {
  let summary = "dy * y * (1 - y), y the sigmoid output";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_TanhGradOp : Mtl_GradOp<"tanh_grad"> {
  let summary = "dy * (1 - y^2), y the tanh output";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_GeluGradOp : Mtl_GradOp<"gelu_grad"> {
  let summary = "dy * gelu'(x), the derivative of the tanh approximation";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_SoftmaxGradOp : Mtl_GradOp<"softmax_grad"> {
  let summary = "y * (dy - sum(dy * y)) over the last axis, y the softmax output";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_LayerNormGradInputOp : Mtl_GradOp<"layer_norm_grad_input"> {
  let summary = "gradient of layer_norm with respect to its input";
  let description = [{
    With `g = dy * gamma` and `xh` the normalized input of a row of `C`:
    `dx = (g - mean(g) - xh * mean(g * xh)) / sqrt(var + eps)`.
  }];
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input,
                       Mtl_F32Tensor:$gamma,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_LayerNormGradGammaOp : Mtl_GradOp<"layer_norm_grad_gamma"> {
  let summary = "sum of dy * xhat over every dimension but the last";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_AvgPoolGradOp : Mtl_GradOp<"avg_pool_grad"> {
  let summary = "spreads each window's gradient evenly over the window";
  let description = [{ The result has the type of the pooled input. }];
  let arguments = (ins Mtl_F32Tensor:$grad_output, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_GlobalAvgPoolGradOp : Mtl_GradOp<"global_avg_pool_grad"> {
  let summary = "dx[n, h, w, c] = dy[n, c] / (H W)";
  let arguments = (ins Mtl_F32Tensor:$grad_output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_UpsampleGradOp : Mtl_GradOp<"upsample_grad"> {
  let summary = "adjoint of upsample: sums dy back onto the input grid";
  let arguments = (ins Mtl_F32Tensor:$grad_output, DenseI64ArrayAttr:$scale,
                       DefaultValuedStrAttr<StrAttr, "nearest">:$mode);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_SliceChannelsOp : Mtl_GradOp<"slice_channels"> {
  let summary = "channels [offset, offset + C) of the last axis";
  let description = [{
    `C` is the result's last dimension; the other dimensions are the
    input's. The gradient of `concat` slices dy back into its inputs.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, I64Attr:$offset);
  let results = (outs Mtl_F32Tensor:$result);
}

#endif // MTL_CNN_OPS_TD
