/* Uses the C API of `mtlc build --emit=lib --tasks=label,recon` on the
   small spec: reads one batch of inputs (raw f32), prints the label head's
   class and softmax probability of the first samples as JSON. */
#include "small.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: lib_predict CHECKPOINT INPUTS.f32 COUNT\n");
    return 2;
  }
  static float input[SMALL_BATCH * SMALL_INPUT_SIZE];
  static float label[SMALL_BATCH * SMALL_LABEL_SIZE];
  static float recon[SMALL_BATCH * SMALL_RECON_SIZE];
  FILE *f = fopen(argv[2], "rb");
  if (!f || fread(input, sizeof input, 1, f) != 1) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 1;
  }
  fclose(f);
  char error[512];
  small *model = small_open(argv[1], error, sizeof error);
  if (!model) {
    fprintf(stderr, "open: %s\n", error);
    return 1;
  }
  if (small_predict(model, input, label, recon) != 0) {
    fprintf(stderr, "predict: %s\n", small_error(model));
    return 1;
  }
  int count = atoi(argv[3]);
  printf("[");
  for (int i = 0; i < count; ++i) {
    const float *l = label + i * SMALL_LABEL_SIZE;
    int best = 0;
    double sum = 0;
    for (int c = 0; c < SMALL_LABEL_SIZE; ++c)
      if (l[c] > l[best])
        best = c;
    for (int c = 0; c < SMALL_LABEL_SIZE; ++c)
      sum += exp(l[c] - l[best]);
    printf("%s{\"class\": %d, \"probability\": %.6f}", i ? ", " : "", best,
           1.0 / sum);
  }
  printf("]\n");
  small_close(model);
  return 0;
}
