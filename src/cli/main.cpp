// main.cpp: the kvc tool's entry point: parses the command line, runs one subcommand, maps errors.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "cli.h"

namespace {

using kvc::cli::json;

// Whether --json appears before a "--" separator, so that a usage error can answer in JSON too.
bool argv_asks_for_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}

void report_error(const std::string& status_name, const std::string& message, bool is_json) {
  std::fprintf(stderr, "kvc: %s: %s\n", status_name.c_str(), message.c_str());
  if (is_json) {
    kvc::cli::print_json(json{{"error", {{"status", status_name}, {"message", message}}}});
  }
}

int run_command(const kvc::cli::Command& command) {
  const bool is_json = *command.is_json;
  try {
    return command.run();
  } catch (const kvc::cli::Failure& f) {
    report_error(f.status_name(), f.message(), is_json);
    return f.exit_code();
  } catch (const std::bad_alloc&) {
    report_error(kvc_status_name(KVC_ERR_OUT_OF_MEMORY), "out of memory", is_json);
    return kvc::cli::kExitError;
  } catch (const std::exception& e) {
    report_error(kvc_status_name(KVC_ERR_INTERNAL), e.what(), is_json);
    return kvc::cli::kExitError;
  }
}

// stdout may be a full disk or a closed pipe: a lost report is an error, not a success.
int finish_stdout(int exit_code) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int error_number = errno;
    std::fprintf(stderr, "kvc: %s: stdout: %s\n", kvc_status_name(KVC_ERR_IO),
                 std::strerror(error_number != 0 ? error_number : EIO));
    return exit_code == kvc::cli::kExitOk ? kvc::cli::kExitError : exit_code;
  }
  return exit_code;
}

int run_main(int argc, char** argv) {
  CLI::App app{
      "kvc: compress, decompress, inspect and verify LLM key/value caches (.kvc); model adapters",
      "kvc"};
  app.set_version_flag("--version", std::string("kvc ") + kvc_version_string());
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 error (I/O, invalid argument, out of memory), 2 usage, 3 corrupt or\n"
      "unsupported data, failed verification, or (with --require-pass) failed quality checks.");
  const kvc::cli::Command commands[] = {
      kvc::cli::add_compress_command(app), kvc::cli::add_decompress_command(app),
      kvc::cli::add_inspect_command(app),  kvc::cli::add_verify_command(app),
      kvc::cli::add_models_command(app),   kvc::cli::add_adapter_command(app),
      kvc::cli::add_estimate_command(app), kvc::cli::add_bench_command(app),
      kvc::cli::add_validate_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return finish_stdout(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return finish_stdout(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    return finish_stdout(app.exit(e));
  } catch (const CLI::ParseError& e) {
    report_error("USAGE", std::string(e.what()) + " (run 'kvc --help' for usage)",
                 argv_asks_for_json(argc, argv));
    return finish_stdout(kvc::cli::kExitUsage);
  }
  for (const kvc::cli::Command& command : commands) {
    if (command.app->parsed()) return finish_stdout(run_command(command));
  }
  report_error("USAGE", "no subcommand given (run 'kvc --help' for usage)",
               argv_asks_for_json(argc, argv));
  return finish_stdout(kvc::cli::kExitUsage);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {  // building the parser failed: out of memory, or a bug
    std::fprintf(stderr, "kvc: %s: %s\n", kvc_status_name(KVC_ERR_INTERNAL), e.what());
  } catch (...) {
    std::fprintf(stderr, "kvc: %s: unexpected exception\n", kvc_status_name(KVC_ERR_INTERNAL));
  }
  return kvc::cli::kExitError;
}
