//===- SequenceOps.td - Recurrent layers of the mtl dialect -*- tablegen -*-===//
//
// LSTM and GRU over the sequence axis of [N, T, F] inputs, with PyTorch's
// gate equations, and their backward-through-time ops. Included from
// MtlOps.td. Shape rules and verifiers: ir/SequenceShapeRules.cpp; gradient
// rules: passes/autodiff/SequenceGrad.cpp; lowering:
// codegen/ops/Recurrent.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef MTL_SEQUENCE_OPS_TD
#define MTL_SEQUENCE_OPS_TD

def Mtl_LstmOp : Mtl_InferredOp<"lstm"> {
  let summary = "LSTM over the sequence axis (PyTorch's gate equations)";
  let description = [{
    `x: [N, T, F]`, `w_input: [F, 4H]`, `w_hidden: [H, 4H]`, `bias: [4H]`,
    gate order `i, f, g, o` along the `4H` axis. With `h_{-1} = c_{-1} = 0`:

    ```
    [i, f, g, o] = x_t w_input + h_{t-1} w_hidden + bias
    i, f, o = sigmoid(i, f, o);  g = tanh(g)
    c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
    ```

    (PyTorch's `b_ih + b_hh` is the one `bias`.) The result is every
    `h_t`, `[N, T, H]`, with `return_sequences`, else the last, `[N, H]`.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$w_input,
                       Mtl_F32Tensor:$w_hidden, Mtl_F32Tensor:$bias,
                       DefaultValuedAttr<BoolAttr, "false">:$return_sequences);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $w_input `,` $w_hidden `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_GruOp : Mtl_InferredOp<"gru"> {
  let summary = "GRU over the sequence axis (PyTorch's gate equations)";
  let description = [{
    `x: [N, T, F]`, `w_input: [F, 3H]`, `w_hidden: [H, 3H]`,
    `bias_input: [3H]`, `bias_hidden: [3H]`, gate order `r, z, n`. With
    `h_{-1} = 0`:

    ```
    r = sigmoid(x_t W_ir + b_ir + h_{t-1} W_hr + b_hr)
    z = sigmoid(x_t W_iz + b_iz + h_{t-1} W_hz + b_hz)
    n = tanh(x_t W_in + b_in + r * (h_{t-1} W_hn + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}
    ```

    The result is every `h_t`, `[N, T, H]`, with `return_sequences`, else
    the last, `[N, H]`.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$w_input,
                       Mtl_F32Tensor:$w_hidden, Mtl_F32Tensor:$bias_input,
                       Mtl_F32Tensor:$bias_hidden,
                       DefaultValuedAttr<BoolAttr, "false">:$return_sequences);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $w_input `,` $w_hidden `,` $bias_input `,` $bias_hidden attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_LstmBackwardOp : Mtl_GradOp<"lstm_backward"> {
  let summary = "backward through time of lstm: gate gradients and h_{t-1}";
  let description = [{
    Operands: the lstm's operands, `dy` (shaped like its result) and
    optionally the forward's `lstm_state`; without it the forward pass is
    recomputed. Result `[N, T, 5H]`: for each (n, t) the
    gradient of the objective with respect to the 4H gate pre-activations
    (`i, f, g, o`), then `h_{t-1}` (0 at t = 0). The rule slices it: input
    and weight gradients are dense gradients of the reshaped slices.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$w_input,
                       Mtl_F32Tensor:$w_hidden, Mtl_F32Tensor:$bias,
                       Mtl_F32Tensor:$grad_output,
                       Optional<Mtl_F32Tensor>:$state,
                       DefaultValuedAttr<BoolAttr, "false">:$return_sequences);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_LstmStateOp : Mtl_InferredOp<"lstm_state"> {
  let summary = "the lstm's state at every step, kept for its backward";
  let description = [{
    Operands: the lstm's. Result `[T + 1, 6, H, N]`: for step `t` (0 the
    zero initial state, `t` the state after step `t - 1`) the components
    `h, c, i, f, g, o` (the gates after their nonlinearities) of every unit
    and sample, the batch innermost, as the recurrence computes them.
    `mtl-save-recurrent-state` replaces an lstm that has a backward by
    `lstm_output(lstm_state(...))` and hands the state to `lstm_backward`,
    which then reads it instead of recomputing the forward pass.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$w_input,
                       Mtl_F32Tensor:$w_hidden, Mtl_F32Tensor:$bias);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $w_input `,` $w_hidden `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_LstmOutputOp : Mtl_InferredOp<"lstm_output"> {
  let summary = "the lstm's result read from its saved state";
  let description = [{
    `state: [T + 1, 6, H, N]` (an `lstm_state`). The result is the lstm's:
    every `h_t`, `[N, T, H]`, with `return_sequences`, else the last,
    `[N, H]`.
  }];
  let arguments = (ins Mtl_F32Tensor:$state,
                       DefaultValuedAttr<BoolAttr, "false">:$return_sequences);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $state attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_GruBackwardOp : Mtl_GradOp<"gru_backward"> {
  let summary = "backward through time of gru: gate gradients and h_{t-1}";
  let description = [{
    Operands: the gru's operands, `dy` and optionally the forward's
    `gru_state`; without it the forward pass is recomputed.
    Result `[N, T, 7H]`: the gradient with respect to the input-side
    pre-activations `(r, z, n)` (3H), to the hidden-side pre-activations
    `h_{t-1} W_h + b_h` (3H; its `n` part is the input side's times `r`),
    then `h_{t-1}` (H).
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$w_input,
                       Mtl_F32Tensor:$w_hidden, Mtl_F32Tensor:$bias_input,
                       Mtl_F32Tensor:$bias_hidden, Mtl_F32Tensor:$grad_output,
                       Optional<Mtl_F32Tensor>:$state,
                       DefaultValuedAttr<BoolAttr, "false">:$return_sequences);
  let results = (outs Mtl_F32Tensor:$result);
}

def Mtl_GruStateOp : Mtl_InferredOp<"gru_state"> {
  let summary = "the gru's state at every step, kept for its backward";
  let description = [{
    Operands: the gru's. Result `[T + 1, 5, H, N]`: for step `t` (0 the
    zero initial state, `t` the state after step `t - 1`) the components
    `h, r, z, n, hn` (`hn` the hidden-side `n` pre-activation
    `h_{t-1} W_hn + b_hn`) of every unit and sample, the batch innermost.
    Made by `mtl-save-recurrent-state`, as `lstm_state`.
  }];
  let arguments = (ins Mtl_F32Tensor:$input, Mtl_F32Tensor:$w_input,
                       Mtl_F32Tensor:$w_hidden, Mtl_F32Tensor:$bias_input,
                       Mtl_F32Tensor:$bias_hidden);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $w_input `,` $w_hidden `,` $bias_input `,` $bias_hidden attr-dict `:` functional-type(operands, results)
  }];
}

def Mtl_GruOutputOp : Mtl_InferredOp<"gru_output"> {
  let summary = "the gru's result read from its saved state";
  let description = [{
    `state: [T + 1, 5, H, N]` (a `gru_state`). The result is the gru's:
    every `h_t`, `[N, T, H]`, with `return_sequences`, else the last,
    `[N, H]`.
  }];
  let arguments = (ins Mtl_F32Tensor:$state,
                       DefaultValuedAttr<BoolAttr, "false">:$return_sequences);
  let results = (outs Mtl_F32Tensor:$result);
  let assemblyFormat = [{
    $state attr-dict `:` functional-type(operands, results)
  }];
}

#endif // MTL_SEQUENCE_OPS_TD
