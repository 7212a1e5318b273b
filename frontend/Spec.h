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
  std::string op;   // dense | conv2d | relu | max_pool | flatten | ... (the
                    // CNN ops of docs/dsl.md)
  std::vector<std::string> inputs;
  std::vector<SourceLoc> inputLocs; // where each entry of `inputs` is written
  // Op keys (only those meaningful for `op` are set; checked by the parser).
  int64_t units = 0;                        // dense
  int64_t filters = 0;                      // conv2d
  std::vector<int64_t> kernel;              // conv2d, max_pool: [kh, kw]
  std::vector<int64_t> stride;              // conv2d, max_pool: [sh, sw]
  std::vector<int64_t> padding;             // conv2d: [ph, pw]
  bool bias = true;                         // dense, conv2d
  std::vector<double> biasInit;             // dense, conv*: 1 or per output
  std::vector<int64_t> dilation;            // conv2d: [dh, dw]
  int64_t groups = 1;                       // conv2d
  std::vector<int64_t> outputPadding;       // conv_transpose2d: [oph, opw]
  std::vector<int64_t> scale;               // upsample: [sh, sw]
  std::string mode;                         // upsample: nearest | bilinear
  std::vector<int64_t> shape;               // reshape: the per-sample shape
  double alpha = 0.01;                      // leaky_relu
  double eps = 1e-5;                        // layer_norm, batch_norm
  bool returnSequences = false;             // lstm, gru: every h_t
  double momentum = 0.1;                    // batch_norm
  double rate = 0.5;                        // dropout
  SourceLoc loc;                            // the layer's table
  std::map<std::string, SourceLoc> keyLocs; // location of each key given
};

struct Task {
  std::string name;
  std::string from; // layer the head reads ("" = backbone output): a backbone
                    // layer, the input or a layer of another head
  std::vector<Layer> head;
  std::string loss;   // softmax_cross_entropy | mse | sigmoid_cross_entropy |
                      // l1 | smooth_l1 | iou | giou | kl_divergence
  std::string target; // a field of the data source: label | group | box |
                      // item | left | right | image
  std::vector<int64_t> targetMap;   // optional: class id -> target class
  std::vector<std::string> metrics; // accuracy | top<k> | iou | mse | mae |
                                    // psnr
  double weight = 1.0;
  double labelFraction = 1.0;  // share of training samples keeping a label
  double labelSmoothing = 0.0; // softmax_cross_entropy
  double beta = 1.0;           // smooth_l1
  std::string mean, logvar;    // kl_divergence: the backbone layers it reads
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Input {
  std::string name = "image";
  std::vector<int64_t> shape; // [H, W, C]
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

/// Random transformations of training images (`[data.augment]`).
struct Augment {
  int64_t shift = 0;   // pixels (a random crop of the zero-padded image)
  bool flip = false;   // horizontal, with probability 1/2
  double noise = 0.0;  // gaussian std
  double rotate = 0.0; // degrees
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;
};

struct Data {
  /// idx | npy | csv | fashion-detect | multi-fashion | sequential
  std::string format = "idx"; // the source (`source`, or `format`)
  std::string dir;            // default: /usr/share/datasets/fashion-mnist
  std::string trainImages = "train-images-idx3-ubyte.gz";
  std::string trainLabels = "train-labels-idx1-ubyte.gz";
  std::string testImages = "t10k-images-idx3-ubyte.gz";
  std::string testLabels = "t10k-labels-idx1-ubyte.gz";
  std::string trainFile = "train.csv"; // csv
  std::string testFile = "test.csv";   // csv
  std::string labelColumn = "0";       // csv: an index or a header name
  double scale = 0.0;      // npy/csv features; 0 = 1/255 for uint8, else 1
  double validation = 0.0; // share of the training file held out
  uint64_t seed = 1;       // generated datasets, validation, label_fraction
  Augment augment;
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
  int64_t warmup = 0;                  // steps of linear learning-rate warm-up
  std::string lrSchedule = "constant"; // constant | cosine | step
  double minLr = 0.0;                  // cosine: the final rate
  int64_t stepEpochs = 1;              // step: epochs between decays
  double gamma = 0.1;                  // step: the decay factor
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

/// Multi-task optimization (`[strategy]`, docs/strategies.md).
struct Strategy {
  std::string weighting = "static"; // equal | static | uncertainty | dwa |
                                    // gradnorm | rlw
  std::string gradient = "none";    // none | pcgrad | mgda_ub | cagrad | imtl_g
  std::string on = "rep";           // rep | param: where `gradient` applies
  double dwaTemperature = 2.0;
  double gradnormAlpha = 1.5;
  double cagradC = 0.5;
  SourceLoc loc;
  std::map<std::string, SourceLoc> keyLocs;

  /// The train step takes the loss weights as an argument (anything but
  /// the spec's static weights and a plain gradient sum).
  bool runtimeWeights() const {
    return weighting != "static" || gradient != "none";
  }
  /// The task join stays unfused and calls the runtime back: a gradient
  /// method on the representation, or GradNorm (per-task norms there).
  bool repJoin() const {
    return (gradient != "none" && on == "rep") || weighting == "gradnorm";
  }
  /// The step outputs per-task gradients of the shared parameters.
  bool paramGrads() const { return gradient != "none" && on == "param"; }
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
  Strategy strategy;
};

} // namespace mtl::spec

#endif // MTL_FRONTEND_SPEC_H
