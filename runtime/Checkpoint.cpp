//===- Checkpoint.cpp - Atomic, checksummed training checkpoints ---------===//

#include "runtime/Checkpoint.h"
#include "runtime/Error.h"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using nlohmann::json;

namespace mtl::rt {

namespace {

constexpr char kMagic[8] = {'M', 'T', 'L', 'C', 'K', 'P', 'T', '1'};

uint32_t crc32Of(const std::vector<uint8_t> &bytes, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const uint8_t *p = bytes.data();
  // crc32 takes a uInt length: feed it in chunks.
  while (n > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

template <typename T> void append(std::vector<uint8_t> &out, const T &v) {
  const auto *p = reinterpret_cast<const uint8_t *>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void appendFloats(std::vector<uint8_t> &out, const std::vector<float> &v) {
  const auto *p = reinterpret_cast<const uint8_t *>(v.data());
  out.insert(out.end(), p, p + v.size() * sizeof(float));
}

// Writes everything to `tmp`, syncs it and renames it over `path`.
void writeFileAtomically(const std::string &path,
                         const std::vector<uint8_t> &bytes) {
  std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    fail("{}: cannot write checkpoint: {}", tmp, std::strerror(errno));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = ok && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail("{}: cannot write checkpoint: {}", tmp, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    fail("{}: cannot replace checkpoint: {}", path, std::strerror(err));
  }
  // Make the rename itself durable.
  std::string dir = path.find('/') == std::string::npos
                        ? "."
                        : path.substr(0, path.rfind('/') + 1);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

} // namespace

void writeCheckpoint(const std::string &path, const CheckpointState &state) {
  json header;
  header["model"] = state.model;
  header["epoch"] = state.epoch;
  header["global_step"] = state.globalStep;
  header["seed"] = state.seed;
  if (state.bestEpoch > 0) {
    header["best_epoch"] = state.bestEpoch;
    header["best_validation_loss"] = state.bestValidationLoss;
  }
  int64_t offset = 0;
  header["params"] = json::array();
  for (const auto &[name, shape] : state.params) {
    header["params"].push_back(
        {{"name", name}, {"shape", shape}, {"offset", offset}});
    offset += numElements(shape);
  }
  if (offset != static_cast<int64_t>(state.values.size()))
    fail("{}: internal error: {} parameter values for {} elements", path,
         state.values.size(), offset);
  header["states"] = json::array();
  int64_t stateStart = offset;
  for (const auto &[name, shape] : state.states) {
    header["states"].push_back(
        {{"name", name}, {"shape", shape}, {"offset", offset}});
    offset += numElements(shape);
  }
  if (offset - stateStart != static_cast<int64_t>(state.stateValues.size()))
    fail("{}: internal error: {} state values for {} elements", path,
         state.stateValues.size(), offset - stateStart);
  json opt = {{"kind", state.optimizer},
              {"step", state.optimizerSteps},
              {"state", json::array()}};
  for (const auto &[name, values] : state.optimizerState) {
    opt["state"].push_back(
        {{"name", name}, {"offset", offset}, {"size", values.size()}});
    offset += static_cast<int64_t>(values.size());
  }
  header["optimizer"] = opt;
  json strategy = json::array();
  for (const auto &[name, values] : state.strategyState) {
    strategy.push_back(
        {{"name", name}, {"offset", offset}, {"size", values.size()}});
    offset += static_cast<int64_t>(values.size());
  }
  header["strategy"] = strategy;
  header["floats"] = offset;
  std::string text = header.dump();

  std::vector<uint8_t> bytes(kMagic, kMagic + 8);
  append<uint64_t>(bytes, text.size());
  bytes.insert(bytes.end(), text.begin(), text.end());
  appendFloats(bytes, state.values);
  appendFloats(bytes, state.stateValues);
  for (const auto &slot : state.optimizerState)
    appendFloats(bytes, slot.second);
  for (const auto &slot : state.strategyState)
    appendFloats(bytes, slot.second);
  append<uint32_t>(bytes, crc32Of(bytes, bytes.size()));
  writeFileAtomically(path, bytes);
}

CheckpointState readCheckpoint(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    fail("{}: cannot open checkpoint: {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    bytes.insert(bytes.end(), buf, buf + n);
  bool readError = std::ferror(f);
  std::fclose(f);
  if (readError)
    fail("{}: read error", path);

  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    fail("{}: not an mtlc checkpoint (bad magic)", path);
  if (bytes.size() < 8 + 8 + 4)
    fail("{}: checkpoint is truncated", path);
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (crc32Of(bytes, bytes.size() - 4) != stored)
    fail("{}: checkpoint is corrupt (CRC32 mismatch); it was damaged or "
         "partially written",
         path);
  uint64_t headerSize;
  std::memcpy(&headerSize, bytes.data() + 8, 8);
  if (headerSize > bytes.size() - 20)
    fail("{}: checkpoint header size {} exceeds the file", path, headerSize);
  const uint8_t *data = bytes.data() + 16 + headerSize;
  size_t dataFloats = (bytes.size() - 20 - headerSize) / sizeof(float);

  CheckpointState state;
  try {
    json header =
        json::parse(bytes.begin() + 16, bytes.begin() + 16 + headerSize);
    state.model = header.at("model").get<std::string>();
    state.epoch = header.at("epoch").get<int64_t>();
    state.globalStep = header.at("global_step").get<int64_t>();
    state.seed = header.value<uint64_t>("seed", 0);
    state.bestEpoch = header.value<int64_t>("best_epoch", 0);
    state.bestValidationLoss =
        header.value<double>("best_validation_loss", 0.0);
    if (header.at("floats").get<size_t>() != dataFloats)
      fail("{}: checkpoint holds {} floats, header says {}", path, dataFloats,
           header.at("floats").get<size_t>());
    // Copies `count` floats from `offset`, bounds-checked.
    auto slice = [&](int64_t offset, int64_t count) {
      if (offset < 0 || count < 0 ||
          static_cast<size_t>(offset + count) > dataFloats)
        fail("{}: checkpoint entry out of bounds", path);
      std::vector<float> v(count);
      std::memcpy(v.data(), data + offset * sizeof(float),
                  count * sizeof(float));
      return v;
    };
    for (const json &p : header.at("params")) {
      Shape shape = p.at("shape").get<Shape>();
      std::vector<float> v =
          slice(p.at("offset").get<int64_t>(), numElements(shape));
      state.values.insert(state.values.end(), v.begin(), v.end());
      state.params.emplace_back(p.at("name").get<std::string>(), shape);
    }
    if (header.contains("states"))
      for (const json &p : header.at("states")) {
        Shape shape = p.at("shape").get<Shape>();
        std::vector<float> v =
            slice(p.at("offset").get<int64_t>(), numElements(shape));
        state.stateValues.insert(state.stateValues.end(), v.begin(), v.end());
        state.states.emplace_back(p.at("name").get<std::string>(), shape);
      }
    const json &opt = header.at("optimizer");
    state.optimizer = opt.at("kind").get<std::string>();
    state.optimizerSteps = opt.at("step").get<int64_t>();
    for (const json &s : opt.at("state"))
      state.optimizerState.emplace_back(
          s.at("name").get<std::string>(),
          slice(s.at("offset").get<int64_t>(), s.at("size").get<int64_t>()));
    if (header.contains("strategy"))
      for (const json &s : header.at("strategy"))
        state.strategyState.emplace_back(
            s.at("name").get<std::string>(),
            slice(s.at("offset").get<int64_t>(), s.at("size").get<int64_t>()));
  } catch (const json::exception &e) {
    fail("{}: malformed checkpoint header: {}", path, e.what());
  }
  return state;
}

void checkCompatible(const CheckpointState &state, const Descriptor &desc,
                     const std::string &path) {
  if (state.model != desc.model)
    fail("{}: checkpoint is for model '{}', this binary is model '{}'", path,
         state.model, desc.model);
  if (state.params.size() != desc.params.size())
    fail("{}: checkpoint has {} parameters, model '{}' has {}", path,
         state.params.size(), desc.model, desc.params.size());
  for (size_t i = 0; i < desc.params.size(); ++i) {
    const auto &[name, shape] = state.params[i];
    const ParamSpec &p = desc.params[i];
    if (name != p.name)
      fail("{}: checkpoint parameter {} is '{}', the model expects '{}'", path,
           i, name, p.name);
    if (shape != p.shape)
      fail("{}: parameter '{}' has shape {} in the checkpoint, the model "
           "expects {}",
           path, name, toString(shape), toString(p.shape));
  }
  if (state.states.size() != desc.states.size())
    fail("{}: checkpoint has {} states, model '{}' has {}", path,
         state.states.size(), desc.model, desc.states.size());
  for (size_t i = 0; i < desc.states.size(); ++i) {
    const auto &[name, shape] = state.states[i];
    if (name != desc.states[i].name || shape != desc.states[i].shape)
      fail("{}: checkpoint state {} is '{}' {}, the model expects '{}' {}",
           path, i, name, toString(shape), desc.states[i].name,
           toString(desc.states[i].shape));
  }
}

} // namespace mtl::rt
