#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace pixline {

class stage_registry;

/// An error in an inline chain (`pixline run --chain`). `what()` reads
///
///     --chain: stage 'sharpen' has no option 'sigmaa' (did you mean 'sigma'?)
///       autorotate ! sharpen sigmaa=0.5
///                            ^^^^^^
///
/// the reason, then the chain, then carets under the offending word.
class chain_error : public std::runtime_error {
public:
  chain_error(const std::string& chain, std::size_t offset, std::string word,
              const std::string& reason);

  /// The offending word as written in the chain (quotes included).
  const std::string& word() const {
    return word_;
  }

  /// Where the word starts in the chain, in bytes from 0.
  std::size_t offset() const {
    return offset_;
  }

  /// The reason alone, without the chain and the carets.
  const std::string& reason() const {
    return reason_;
  }

private:
  std::size_t offset_;
  std::string word_;
  std::string reason_;
};

/// Parses an inline chain into the filters and sink of `config` (replacing
/// them), checked against the stage specs exactly like a config file.
/// Throws chain_error naming the offending word.
///
/// Grammar, gst-launch style: elements separated by `!`, each a stage name
/// followed by `key=value` pairs separated by whitespace:
///
///     autorotate ! thumbnail width=256 ! save format=webp quality=80
///
/// Values: `true`/`false`, integers, decimals (`0.5`, `1e-3`), anything else
/// a string; `'...'` or `"..."` quote a string that may hold spaces and `!`.
/// Options of text type take an unquoted value as written (`path=2024`).
/// A `save` element merges its options into the config's sink; without one
/// the sink is kept as it is. Several `save` elements fan out: each writes
/// its own output from the image the filters before the first `save` made,
/// and the filters between two saves apply to the second one only:
///
///     resize width=1600 ! save format=webp ! resize width=400 ! save
///
/// writes a 1600 px WebP and a 400 px image. The n-th save builds on the
/// config's n-th sink when there is one, else on its first. Every element
/// takes `workers` and `max_in_flight`.
void apply_chain(const std::string& chain, pipeline_config& config,
                 const stage_registry& registry);

} // namespace pixline
