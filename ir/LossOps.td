//===- LossOps.td - More task losses of the mtl dialect ----*- tablegen -*-===//
//
// Sigmoid cross-entropy, L1, smooth L1, IoU / GIoU box losses and the KL
// divergence of a diagonal Gaussian to N(0, I), with their gradient ops.
// Included from MtlOps.td (uses Mtl_InferredOp / Mtl_GradOp from there).
// Shape rules and verifiers: ir/LossShapeRules.cpp; gradient rules:
// passes/autodiff/LossGrad.cpp; lowering: codegen/ops/Loss.cpp and
// codegen/ops/BoxLoss.cpp.
//
// Like softmax_cross_entropy and mse, every loss is a scalar mean over the
// masked-in samples: `sum_n mask_n * loss_n / max(sum_n mask_n, 1)`.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_LOSS_OPS_TD
#define MTL_LOSS_OPS_TD

/// A loss of a float prediction and a float target of the same shape,
/// averaged over the elements of a sample like `mse`.
class Mtl_ElementLossOp<string mnemonic, string sum, string desc>
    : Mtl_InferredOp<mnemonic> {
  let summary = sum;
  let description = desc;
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target,
                       Mtl_F32Tensor:$mask);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$prediction `,` $target `,` $mask attr-dict `:` functional-type(operands, results)";
}

def Mtl_SigmoidCrossEntropyOp : Mtl_ElementLossOp<"sigmoid_cross_entropy",
    "binary cross-entropy of logits and targets in [0, 1]", [{
    Per element, in the stable form of PyTorch's `BCEWithLogitsLoss`:
    `max(x, 0) - x t + log(1 + exp(-|x|))` (= `-t log s(x) - (1-t) log(1 -
    s(x))`, `s` the sigmoid). Averaged over the `D` elements of a sample and
    the masked-in samples: `sum_n mask_n sum_j l_nj / (max(sum mask, 1) D)`.
  }]>;

def Mtl_L1Op : Mtl_ElementLossOp<"l1", "mean absolute error", [{
    `sum_n mask_n sum_j |p_nj - t_nj| / (max(sum mask, 1) D)`.
  }]>;

def Mtl_SmoothL1Op : Mtl_InferredOp<"smooth_l1"> {
  let summary = "smooth L1 (Huber-like) loss, PyTorch's SmoothL1Loss";
  let description = [{
    Per element with `d = p - t`: `0.5 d^2 / beta` where `|d| < beta`,
    else `|d| - 0.5 beta`; `beta = 0` is L1. Averaged like `l1`.
  }];
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target,
                       Mtl_F32Tensor:$mask,
                       DefaultValuedAttr<F64Attr, "1.0">:$beta);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$prediction `,` $target `,` $mask attr-dict `:` functional-type(operands, results)";
}

class Mtl_BoxLossOp<string mnemonic, string sum, string desc>
    : Mtl_InferredOp<mnemonic> {
  let summary = sum;
  let description = desc;
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target,
                       Mtl_F32Tensor:$mask);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$prediction `,` $target `,` $mask attr-dict `:` functional-type(operands, results)";
}

def Mtl_IouLossOp : Mtl_BoxLossOp<"iou_loss", "1 - IoU of boxes [N, 4]", [{
    Boxes are `(x0, y0, x1, y1)`. A predicted box with `x1 < x0` (or
    `y1 < y0`) has zero width (height). Per sample
    `1 - I / (A_p + A_t - I + 1e-7)`, averaged over the masked-in samples.
  }]>;

def Mtl_GiouLossOp : Mtl_BoxLossOp<"giou_loss",
    "1 - generalized IoU of boxes [N, 4]", [{
    As `iou_loss` with the penalty of the smallest enclosing box `C`:
    `1 - IoU + (A_C - U) / A_C`, `U` the union (Rezatofighi et al. 2019,
    torchvision's `generalized_box_iou_loss`), `A_C` plus `1e-7`.
  }]>;

def Mtl_KlDivergenceOp : Mtl_InferredOp<"kl_divergence"> {
  let summary = "KL(N(mean, exp(logvar)) || N(0, I)) of [N, Z] tensors";
  let description = [{
    Per sample, summed over the `Z` latent dimensions:
    `-0.5 sum_j (1 + logvar_j - mean_j^2 - exp(logvar_j))`; averaged over
    the masked-in samples (the usual VAE term).
  }];
  let arguments = (ins Mtl_F32Tensor:$mean, Mtl_F32Tensor:$logvar,
                       Mtl_F32Tensor:$mask);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = "$mean `,` $logvar `,` $mask attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Gradient ops: `scale` is d objective / d loss (the task weight).
//===----------------------------------------------------------------------===//

class Mtl_LossGradOp<string mnemonic, string sum> : Mtl_GradOp<mnemonic> {
  let summary = sum;
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target,
                       Mtl_F32Tensor:$mask, F64Attr:$scale);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_SigmoidCrossEntropyGradOp : Mtl_LossGradOp<"sigmoid_cross_entropy_grad",
    "scale * mask_n * (sigmoid(x) - t) / (max(sum mask, 1) * D)">;
def Mtl_L1GradOp : Mtl_LossGradOp<"l1_grad",
    "scale * mask_n * sign(p - t) / (max(sum mask, 1) * D), sign(0) = 0">;

def Mtl_SmoothL1GradOp : Mtl_GradOp<"smooth_l1_grad"> {
  let summary = "scale * mask_n * clamp((p - t) / beta, -1, 1) / (max(sum mask, 1) * D)";
  let arguments = (ins Mtl_F32Tensor:$prediction, Mtl_F32Tensor:$target,
                       Mtl_F32Tensor:$mask, F64Attr:$scale,
                       DefaultValuedAttr<F64Attr, "1.0">:$beta);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_IouLossGradOp : Mtl_LossGradOp<"iou_loss_grad",
    "gradient of iou_loss with respect to the predicted boxes">;
def Mtl_GiouLossGradOp : Mtl_LossGradOp<"giou_loss_grad",
    "gradient of giou_loss with respect to the predicted boxes">;

def Mtl_KlDivergenceMeanGradOp : Mtl_GradOp<"kl_divergence_mean_grad"> {
  let summary = "scale * mask_n * mean / max(sum mask, 1)";
  let arguments = (ins Mtl_F32Tensor:$mean, Mtl_F32Tensor:$logvar,
                       Mtl_F32Tensor:$mask, F64Attr:$scale);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_KlDivergenceLogvarGradOp : Mtl_GradOp<"kl_divergence_logvar_grad"> {
  let summary = "scale * mask_n * 0.5 (exp(logvar) - 1) / max(sum mask, 1)";
  let arguments = (ins Mtl_F32Tensor:$mean, Mtl_F32Tensor:$logvar,
                       Mtl_F32Tensor:$mask, F64Attr:$scale);
  let results = (outs Mtl_F32Tensor:$result);
}

#endif // MTL_LOSS_OPS_TD
