// verify.cpp: `kvc verify`: checks every message and checksum of a .kvc blob without decoding.
#include <chrono>

#include "cli.h"

namespace kvc::cli {
namespace {

struct VerifyOptions {
  std::string input;
  bool is_json = false;
};

int run_verify(const VerifyOptions& o) {
  const std::vector<unsigned char> blob = read_file(o.input);
  const Context ctx;
  const auto start = std::chrono::steady_clock::now();
  ctx.check(kvc_verify(ctx.get(), blob.data(), blob.size()), o.input);
  const double verify_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (o.is_json) {
    print_json(json{{"command", "verify"},
                    {"input", o.input},
                    {"ok", true},
                    {"compressed_size_bytes", blob.size()},
                    {"processing_time_ms", verify_ms}});
  } else {
    print(format("%s: ok: %zu bytes, every message and checksum verified\n", o.input.c_str(),
                 blob.size()));
  }
  return kExitOk;
}

}  // namespace

Command add_verify_command(CLI::App& app) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* sub = app.add_subcommand(
      "verify", "Check a .kvc blob's structure and every checksum; exit 3 when it is damaged");
  sub->add_option("input", o->input, "Compressed cache (.kvc)")->required();
  add_json_flag(*sub, o->is_json);
  return Command{sub, std::shared_ptr<const bool>(o, &o->is_json), [o] { return run_verify(*o); }};
}

}  // namespace kvc::cli
