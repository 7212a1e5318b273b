//===- TrainModeOps.td - Ops that behave differently in training -*- tablegen -*-===//
//
// batch_norm, dropout and reparameterize: their `training` flag is false in
// the forward function (@model, evaluation and inference) and set by
// mtl-autodiff in @train_step. batch_norm in training mode is rewritten by a
// training expansion (passes/autodiff/TrainModeGrad.cpp) into batch_stats,
// batch_norm_train and the running-statistics updates; dropout and
// reparameterize read `mtl.seed` and draw their noise from a counter-based
// hash of (seed, stream, element index), so the backward pass regenerates
// the forward's noise without storing it. Included from MtlOps.td. Shape
// rules and verifiers: ir/TrainModeOps.cpp; lowering:
// codegen/ops/TrainMode.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_TRAIN_MODE_OPS_TD
#define MTL_TRAIN_MODE_OPS_TD

//===----------------------------------------------------------------------===//
// Batch normalization
//===----------------------------------------------------------------------===//

def Mtl_BatchNormOp : Mtl_InferredOp<"batch_norm"> {
  let summary = "batch normalization over the last (channel) axis";
  let description = [{
    `x`: `[N, ..., C]` (NHWC images or `[N, C]` features); `gamma`, `beta`,
    `running_mean`, `running_var`: `[C]`. Evaluation mode (`training =
    false`): `y = (x - running_mean) / sqrt(running_var + eps) * gamma +
    beta`. In the train step (`training = true`) mtl-autodiff's training
    expansion rewrites it into `mtl.batch_stats` (mean and biased variance
    over every axis but the last), `mtl.batch_norm_train` and one
    `mtl.batch_norm_update_stat` + `mtl.state_update` per running
    statistic: `running = (1 - momentum) running + momentum * stat`, the
    variance unbiased (PyTorch's convention). The running statistics must
    then be `mtl.state`s.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$gamma,
                       Mtl_F32Tensor:$beta, Mtl_F32Tensor:$running_mean,
                       Mtl_F32Tensor:$running_var,
                       DefaultValuedAttr<F64Attr, "0.1">:$momentum,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps,
                       DefaultValuedAttr<BoolAttr, "false">:$training);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta `,` $running_mean `,` $running_var attr-dict
    `:` functional-type(operands, results)
  }];
}

def Mtl_BatchStatsOp : Mtl_InferredOp<"batch_stats"> {
  let summary = "per-channel mean and biased variance of a batch";
  let description = [{
    `x: [N, ..., C]` -> `[2, C]`: row 0 the mean, row 1 the biased variance
    (divided by the count `M` = N * ... of values per channel), both over
    every axis but the last. Two passes (the variance around the mean).
  }];
  let arguments = (ins Mtl_F32Tensor:$input);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Mtl_BatchNormTrainOp : Mtl_InferredOp<"batch_norm_train"> {
  let summary = "batch normalization with the batch's own statistics";
  let description = [{
    `y = (x - stats[0]) / sqrt(stats[1] + eps) * gamma + beta`, `stats` the
    `mtl.batch_stats` of the same `x` (the verifier checks it). Its
    gradient with respect to `x` is the total one, through the statistics
    too (`mtl.batch_norm_backward_input`); `stats` gets no gradient of its
    own.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$stats,
                       Mtl_F32Tensor:$gamma, Mtl_F32Tensor:$beta,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $stats `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_BatchNormUpdateStatOp : Mtl_InferredOp<"batch_norm_update_stat"> {
  let summary = "one running statistic of batch_norm after a train step";
  let description = [{
    `(1 - momentum) * running + momentum * stats[row] * k`: `row` 0 the
    mean (`k = 1`), `row` 1 the variance, made unbiased with
    `k = count / (count - 1)` (`k = 1` for `count = 1`); `count` the number
    of values per channel in the batch.
  }];
  let arguments = (ins Mtl_F32Tensor:$running, Mtl_F32Tensor:$stats,
                       I64Attr:$row, I64Attr:$count,
                       DefaultValuedAttr<F64Attr, "0.1">:$momentum);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $running `,` $stats attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Noise: dropout and the VAE's reparameterization
//===----------------------------------------------------------------------===//

def Mtl_DropoutOp : Mtl_InferredOp<"dropout"> {
  let summary = "inverted dropout with a counter-based mask";
  let description = [{
    Training: `y = x * keep / (1 - rate)`, `keep = u >= rate`, `u` uniform
    in [0, 1) from a hash of (`seed`, `stream`, the element's row-major
    index), so the mask is a pure function of them and is regenerated, not
    stored, by the gradient (which is `dropout` of `dy` with the same
    attributes). Evaluation: `y = x`. `rate` in [0, 1); `stream` tells
    layers apart (the frontend derives it from the layer name).
  }];
  let arguments = (ins Mtl_F32Tensor:$input, 0DTensorOf<[I32]>:$seed,
                       DefaultValuedAttr<F64Attr, "0.5">:$rate,
                       DefaultValuedAttr<I64Attr, "0">:$stream,
                       DefaultValuedAttr<BoolAttr, "false">:$training);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $seed attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_ReparameterizeOp : Mtl_InferredOp<"reparameterize"> {
  let summary = "VAE sample: mean + exp(0.5 logvar) * eps, eps ~ N(0, 1)";
  let description = [{
    `mean`, `logvar`: `[N, Z]` (any equal shapes). Training: `eps` is a
    standard normal per element, Box-Muller of two uniforms hashed from
    (`seed`, `stream`, 2 i) and (`seed`, `stream`, 2 i + 1), `i` the
    element's row-major index (regenerated by the gradient). Evaluation:
    the mean.
  }];
  let arguments = (ins Mtl_F32Tensor:$mean, Mtl_F32Tensor:$logvar,
                       0DTensorOf<[I32]>:$seed,
                       DefaultValuedAttr<I64Attr, "0">:$stream,
                       DefaultValuedAttr<BoolAttr, "false">:$training);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $mean `,` $logvar `,` $seed attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Gradient ops
//===----------------------------------------------------------------------===//

def Mtl_BatchNormGradGammaOp : Mtl_GradOp<"batch_norm_grad_gamma"> {
  let summary = "sum of dy * xhat over every axis but the last, xhat with the batch statistics";
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input,
                       Mtl_F32Tensor:$stats,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_BatchNormBackwardInputOp : Mtl_GradOp<"batch_norm_backward_input"> {
  let summary = "gradient of batch_norm_train with respect to x, through the batch statistics";
  let description = [{
    With `inv = 1 / sqrt(var + eps)`, `xh = (x - mean) inv`, `M` values per
    channel, `dgamma = sum dy xh` and `dbeta = sum dy` (per channel):
    `dx = gamma inv (dy - dbeta / M - xh dgamma / M)`.
  }];
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$input,
                       Mtl_F32Tensor:$stats, Mtl_F32Tensor:$gamma,
                       Mtl_F32Tensor:$grad_gamma, Mtl_F32Tensor:$grad_beta,
                       DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_ReparameterizeGradOp : Mtl_GradOp<"reparameterize_grad"> {
  let summary = "gradient of reparameterize with respect to logvar";
  let description = [{
    Training: `dy * 0.5 * exp(0.5 logvar) * eps`, `eps` regenerated from
    (`seed`, `stream`); evaluation: 0. (The gradient for the mean is `dy`.)
  }];
  let arguments = (ins Mtl_F32Tensor:$grad_output, Mtl_F32Tensor:$logvar,
                       0DTensorOf<[I32]>:$seed,
                       DefaultValuedAttr<I64Attr, "0">:$stream,
                       DefaultValuedAttr<BoolAttr, "false">:$training);
  let results = (outs Mtl_F32Tensor:$result);
}

#endif // MTL_TRAIN_MODE_OPS_TD
