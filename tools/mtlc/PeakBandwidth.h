//===- PeakBandwidth.h - Measured streaming bandwidth -----------*- C++ -*-===//
#ifndef MTL_TOOLS_MTLC_PEAKBANDWIDTH_H
#define MTL_TOOLS_MTLC_PEAKBANDWIDTH_H

namespace mtl {

/// GB/s of memory traffic (bytes read plus bytes written) of a vectorized
/// copy with ordinary stores, as the kernels store, on `threads` threads,
/// each between two buffers of `megabytes` MB (the size of the reference
/// model's largest activations), measured for ~`seconds`: the bandwidth a
/// memory-bound kernel's compulsory traffic is compared with.
double measureBandwidthGBs(int threads, double seconds = 0.3,
                           int megabytes = 32);

} // namespace mtl

#endif // MTL_TOOLS_MTLC_PEAKBANDWIDTH_H
