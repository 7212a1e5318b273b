//===- MtlOps.td - Ops of the mtl dialect ------------------*- tablegen -*-===//
//
// Forward ops implement ShapeInference: their result may be written
// unranked (`tensor<*xf32>`) and `mtl-shape-inference` fills it in. Gradient
// ops produced by autodiff carry the type of the value they differentiate.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_OPS_TD
#define MTL_OPS_TD

include "ir/MtlDialect.td"
include "ir/MtlInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def Mtl_F32Tensor : TensorOf<[F32]>;
def Mtl_I32Tensor : TensorOf<[I32]>;
def Mtl_I8Tensor : TensorOf<[I8]>;
def Mtl_AnyTensor : TensorOf<[F32, I32]>;

class Mtl_InferredOp<string mnemonic, list<Trait> traits = []> :
    Mtl_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<ShapeInferenceOpInterface>])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Step function inputs and outputs
//===----------------------------------------------------------------------===//

def Mtl_InputOp : Mtl_Op<"input", [Pure]> {
  let summary = "a batch of the model input";
  let description = [{
    `%x = mtl.input "image" : tensor<128x28x28x1xf32>` reads the current
    batch of the named model input, NHWC, values in [0, 1].
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def Mtl_TargetOp : Mtl_Op<"target", [Pure]> {
  let summary = "a batch of a task's targets";
  let description = [{
    `%t = mtl.target "label" : tensor<128xi32>` reads the targets of task
    `label` for the current batch: class ids (i32) for classification
    losses, or f32 values shaped like the prediction for regression losses.
  }];
  let arguments = (ins StrAttr:$task);
  let results = (outs Mtl_AnyTensor:$result);
  let assemblyFormat = "$task attr-dict `:` type($result)";
}

def Mtl_MaskOp : Mtl_Op<"mask", [Pure]> {
  let summary = "per-sample weights of a task's targets";
  let description = [{
    `%m = mtl.mask "label" : tensor<128xf32>`: 1 where the sample has a
    target for the task, 0 where it does not (missing label, batch padding).
    Losses average over the masked-in samples.
  }];
  let arguments = (ins StrAttr:$task);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$task attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mtl_ParamOp : Mtl_Op<"param", [Pure]> {
  let summary = "a trainable parameter";
  let description = [{
    `%w = mtl.param "conv1.weight" {init = "he_normal"} : tensor<3x3x1x16xf32>`
    reads a named parameter. Names are unique in a function; the runtime
    owns the storage, its initialization and its optimizer state. `init` is
    `he_normal`, `glorot_uniform`, `zeros`, `ones` or `values:v1,v2,...`
    (one value for every element, or one per element).
  }];
  let arguments = (ins StrAttr:$name, DefaultValuedStrAttr<StrAttr, "he_normal">:$init);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mtl_StateOp : Mtl_Op<"state", [Pure]> {
  let summary = "a tensor kept across steps that is not trained";
  let description = [{
    `%m = mtl.state "bn1.running_mean" {init = "zeros"} : tensor<16xf32>`
    reads a named state tensor (batch-norm running statistics, ...). The
    runtime owns it, saves it in checkpoints and, after each train step,
    replaces it by the value of the matching `mtl.state_update`.
  }];
  let arguments = (ins StrAttr:$name, DefaultValuedStrAttr<StrAttr, "zeros">:$init);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mtl_StateUpdateOp : Mtl_Op<"state_update"> {
  let summary = "the new value of a state tensor after a train step";
  let description = [{
    `mtl.state_update "bn1.running_mean"(%new : tensor<16xf32>)`: only in
    the train step; the state's type must match.
  }];
  let arguments = (ins StrAttr:$name, Mtl_F32Tensor:$value);
  let assemblyFormat = "$name `(` $value `:` type($value) `)` attr-dict";
  let hasVerifier = 1;
}

def Mtl_SeedOp : Mtl_Op<"seed", [Pure]> {
  let summary = "a random seed that changes every training step";
  let description = [{
    `%s = mtl.seed : tensor<i32>`: seeds the noise of dropout and
    reparameterize. The runtime derives it from the train seed and the
    global step, so a run is reproducible and a resumed run continues it.
  }];
  let results = (outs 0DTensorOf<[I32]>:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

def Mtl_TaskOp : Mtl_Op<"task"> {
  let summary = "declares a task: its loss, its weight and its prediction";
  let description = [{
    `mtl.task "label" loss(%l) prediction(%logits) {weight = 1.0}`: the
    training objective is the sum over tasks of `weight * loss`; the
    prediction is what evaluation metrics and inference read.
  }];
  let arguments = (ins StrAttr:$name, Mtl_F32Tensor:$loss, Mtl_F32Tensor:$prediction,
                       DefaultValuedAttr<F64Attr, "1.0">:$weight);
  let assemblyFormat = [{
    $name `loss` `(` $loss `:` type($loss) `)` `prediction` `(` $prediction `:`
    type($prediction) `)` attr-dict
  }];
  let hasVerifier = 1;
}

def Mtl_ParamGradOp : Mtl_Op<"param_grad"> {
  let summary = "the gradient of the training objective for a parameter";
  let description = [{
    `mtl.param_grad "conv1.weight"(%g : tensor<3x3x1x16xf32>)`: emitted by
    `mtl-autodiff`; the step function returns `%g` to the optimizer.
  }];
  let arguments = (ins StrAttr:$name, Mtl_F32Tensor:$grad);
  let assemblyFormat = "$name `(` $grad `:` type($grad) `)` attr-dict";
}

//===----------------------------------------------------------------------===//
// Forward tensor ops
//===----------------------------------------------------------------------===//

def Mtl_Conv2DOp : Mtl_InferredOp<"conv2d"> {
  let summary = "2-D convolution, NHWC input, HWIO filter, optional bias";
  let description = [{
    `y[n, oh, ow, co] = b[co] + sum_{kh, kw, ci} x[n, oh*sh + kh - ph,
    ow*sw + kw - pw, ci] * w[kh, kw, ci, co]` with zero padding.
    Output size `(H + 2 ph - KH) / sh + 1`.
    Optional `dilation` (default [1, 1]): kernel taps `dh`, `dw` apart
    (`kh * dh` in place of `kh`; effective size `(KH - 1) dh + 1`).
    Optional `groups` (default 1): the channels split into `groups`
    independent convolutions; the filter is `[kh, kw, cin / groups, cout]`
    and output channel `co` reads input group `co / (cout / groups)`.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$filter,
                       Optional<Mtl_F32Tensor>:$bias,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $filter (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_DenseOp : Mtl_InferredOp<"dense"> {
  let summary = "fully connected layer: y = x w + b";
  let description = [{ `x: [N, K]`, `w: [K, M]`, optional `b: [M]` → `[N, M]`. }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$weight,
                       Optional<Mtl_F32Tensor>:$bias);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_ReluOp : Mtl_InferredOp<"relu"> {
  let summary = "max(x, 0)";
  let arguments = (ins Mtl_F32Tensor:$input);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_MaxPoolOp : Mtl_InferredOp<"max_pool"> {
  let summary = "2-D max pooling over NHWC";
  let description = [{
    Output size `(H + 2 ph - KH) / sh + 1` (floor). `padding` (absent = 0)
    pads with -infinity: a padded position is never a window's maximum.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_MaxPoolArgmaxOp : Mtl_InferredOp<"max_pool_argmax"> {
  let summary = "where each max_pool window's (first) maximum sits";
  let description = [{
    `ky * KW + kx`, the row-major position in its window of the first
    maximum of each window of the `max_pool` with the same input and
    attributes; i8 (a window of at most 127 elements), the pooled shape.
    Made by `mtl-save-pool-argmax` and
    read by `max_pool_grad`, which then routes the gradient without
    comparing its input's window elements again.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Mtl_I8Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_FlattenOp : Mtl_InferredOp<"flatten"> {
  let summary = "[N, d1, ..., dk] -> [N, d1 * ... * dk], row-major order";
  let arguments = (ins Mtl_F32Tensor:$input);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_ReshapeOp : Mtl_Op<"reshape", [Pure]> {
  let summary = "same elements, row-major order, new static shape";
  let arguments = (ins Mtl_F32Tensor:$input);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Losses: scalar mean over the masked-in samples
//===----------------------------------------------------------------------===//

def Mtl_SoftmaxCrossEntropyOp : Mtl_InferredOp<"softmax_cross_entropy"> {
  let summary = "softmax cross-entropy of logits [N, C] and class ids [N]";
  let description = [{
    `sum_i mask_i * (logsumexp(l_i) - l_i[t_i]) / max(sum_i mask_i, 1)`.
    With `label_smoothing` e in [0, 1) the target distribution is
    `(1 - e) onehot(t_i) + e / C` (as PyTorch's `label_smoothing`).
  }];
  let arguments = (ins Mtl_F32Tensor:$logits, Mtl_I32Tensor:$target, Mtl_F32Tensor:$mask,
                       DefaultValuedAttr<F64Attr, "0.0">:$label_smoothing);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$logits `,` $target `,` $mask attr-dict `:` functional-type(operands, results)";
}

def Mtl_MseOp : Mtl_InferredOp<"mse"> {
  let summary = "mean squared error of a prediction and a target";
  let description = [{
    `sum_i mask_i * sum_j (p_ij - t_ij)^2 / (max(sum_i mask_i, 1) * D)`,
    `D` the number of elements per sample.
  }];
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target, Mtl_F32Tensor:$mask);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$prediction `,` $target `,` $mask attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Gradient ops (emitted by mtl-autodiff; see passes/autodiff/)
//===----------------------------------------------------------------------===//

class Mtl_GradOp<string mnemonic, list<Trait> traits = []> :
    Mtl_Op<mnemonic, !listconcat(traits, [Pure])> {
  let hasVerifier = 1;
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

def Mtl_Conv2DBackwardInputOp : Mtl_GradOp<"conv2d_backward_input"> {
  let summary = "gradient of conv2d with respect to its input";
  let description = [{ `dx = conv2d_transpose(dy, w)`; the result type is the input's. }];
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$filter,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_Conv2DBackwardFilterOp : Mtl_GradOp<"conv2d_backward_filter"> {
  let summary = "gradient of conv2d with respect to its filter";
  let description = [{ `dw[kh, kw, ci, co] = sum_{n, oh, ow} x[n, oh*sh+kh-ph, ow*sw+kw-pw, ci] * dy[n, oh, ow, co]`. }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$grad_output,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_BiasGradOp : Mtl_GradOp<"bias_grad"> {
  let summary = "sum of dy over every dimension but the last";
  let arguments = (ins Mtl_F32Tensor:$grad_output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_DenseBackwardInputOp : Mtl_GradOp<"dense_backward_input"> {
  let summary = "dx = dy w^T: [N, M] x [K, M] -> [N, K]";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$weight);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_DenseBackwardWeightOp : Mtl_GradOp<"dense_backward_weight"> {
  let summary = "dw = x^T dy: [N, K] x [N, M] -> [K, M]";
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$grad_output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_ReluGradOp : Mtl_GradOp<"relu_grad"> {
  let summary = "dy where the relu output is positive, else 0";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$output);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_MaxPoolGradOp : Mtl_GradOp<"max_pool_grad"> {
  let summary = "routes each window's gradient to its (first) maximum";
  let description = [{
    With the optional `argmax` (a `max_pool_argmax` of `input`, the pooled
    shape), the maxima are read from it instead of found again in `input`.
  }];
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input,
                       Optional<Mtl_I8Tensor>:$argmax,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       OptionalAttr<DenseI64ArrayAttr>:$padding);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_SoftmaxCrossEntropyGradOp : Mtl_GradOp<"softmax_cross_entropy_grad"> {
  let summary = "scale * mask_i * (softmax(l_i) - q_i) / max(sum mask, 1), q_i the smoothed onehot(t_i)";
  let arguments = (ins Mtl_F32Tensor:$logits, Mtl_I32Tensor:$target, Mtl_F32Tensor:$mask,
                       F64Attr:$scale,
                       DefaultValuedAttr<F64Attr, "0.0">:$label_smoothing);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_MseGradOp : Mtl_GradOp<"mse_grad"> {
  let summary = "scale * 2 * mask_i * (p - t) / (max(sum mask, 1) * D)";
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target, Mtl_F32Tensor:$mask,
                       F64Attr:$scale);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_JoinOp : Mtl_Op<"join", [Pure, SameOperandsAndResultType]> {
  let summary = "sum of the gradients that reach one value";
  let description = [{
    Where a value has several users (above all the shared backbone output
    that every task head reads), reverse mode sums their gradients. The sum
    is this explicit op so that cross-task passes can see and rewrite it.
  }];
  let arguments = (ins Variadic<Mtl_F32Tensor>:$inputs);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($result)";
  let hasVerifier = 1;
}

include "ir/CnnOps.td"
include "ir/LossOps.td"
include "ir/SequenceOps.td"
include "ir/TrainModeOps.td"
include "ir/StrategyOps.td"

#endif // MTL_OPS_TD
