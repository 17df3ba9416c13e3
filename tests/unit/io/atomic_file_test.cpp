// atomic_file_test.cpp: temporary names (unique, beside the target, within NAME_MAX), commit and
// cleanup, concurrent writers to one path, and streams (FIFOs) written in place.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "unit/io/scratch_directory.h"

namespace kvc::io {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes text to path through an AtomicFile; returns the first errno value, or 0.
int write_atomically(const std::string& path, const std::string& text) {
  AtomicFile file;
  if (const int e = file.open(path)) return e;
  if (const int e = file.write(text.data(), text.size())) return e;
  return file.commit();
}

// Tests with a scratch directory, removed with everything in it when the test ends.
class AtomicFileTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return scratch_.file(name); }
  std::vector<std::string> names() const { return scratch_.names(); }

  kvc_test::ScratchDirectory scratch_{"kvc_atomic_file_test"};
};

TEST_F(AtomicFileTest, TemporaryPathIsBesideTheTargetAndNamesThePidAndTheNumber) {
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(temporary_path_for("dir/out.kvc", 7), "dir/out.kvc.tmp." + pid + ".7");
  EXPECT_EQ(temporary_path_for("/a/b/c", 0), "/a/b/c.tmp." + pid + ".0");
  EXPECT_EQ(temporary_path_for("out.kvc", 12), "out.kvc.tmp." + pid + ".12");
}

TEST_F(AtomicFileTest, TemporaryNameOfALongNameIsShortenedToNameMaxAtACharacterBoundary) {
  const std::string ascii = std::string(250, 'k');
  const std::string ascii_temp = temporary_path_for("dir/" + ascii, 123);
  EXPECT_TRUE(ascii_temp.starts_with("dir/kkkk"));
  EXPECT_EQ(ascii_temp.size() - 4, size_t{NAME_MAX});
  std::string accented;  // "é" is two bytes: a cut must not fall between them
  for (int i = 0; i < 125; ++i) accented += "\xC3\xA9";
  const std::string temp = temporary_path_for(accented, 4567);
  const std::string suffix = ".tmp." + std::to_string(::getpid()) + ".4567";
  ASSERT_TRUE(temp.ends_with(suffix)) << temp;
  const std::string stem = temp.substr(0, temp.size() - suffix.size());
  EXPECT_LE(temp.size(), size_t{NAME_MAX});
  EXPECT_EQ(stem.size() % 2, 0u) << "cut inside a two-byte character";
  EXPECT_TRUE(accented.starts_with(stem));
}

TEST_F(AtomicFileTest, CommitReplacesTheTargetAndLeavesNoTemporaryFile) {
  const std::string path = file("out.bin");
  ASSERT_EQ(write_atomically(path, "old"), 0);
  ASSERT_EQ(write_atomically(path, "new contents"), 0);
  EXPECT_EQ(read_text(path), "new contents");
  EXPECT_EQ(names(), std::vector<std::string>{"out.bin"});
}

TEST_F(AtomicFileTest, WritesAFileWhoseNameIs250BytesLong) {
  const std::string path = file(std::string(250, 'n'));
  ASSERT_EQ(write_atomically(path, "long"), 0);
  EXPECT_EQ(read_text(path), "long");
  EXPECT_EQ(names(), std::vector<std::string>{std::string(250, 'n')});
}

TEST_F(AtomicFileTest, AnUncommittedFileRemovesItsTemporaryAndKeepsTheTarget) {
  const std::string path = file("out.bin");
  ASSERT_EQ(write_atomically(path, "earlier"), 0);
  {
    AtomicFile file;
    ASSERT_EQ(file.open(path), 0);
    ASSERT_EQ(file.write("partial", 7), 0);
    ASSERT_EQ(file.flush(), 0);
    EXPECT_TRUE(fs::exists(file.temp_path()));
  }
  EXPECT_EQ(read_text(path), "earlier");
  EXPECT_EQ(names(), std::vector<std::string>{"out.bin"});
}

TEST_F(AtomicFileTest, ATakenTemporaryNameIsSkippedAndLeftAlone) {
  const std::string path = file("out.bin");
  AtomicFile first;
  ASSERT_EQ(first.open(path), 0);
  const std::string first_temp = first.temp_path();
  const uint64_t next = std::stoull(first_temp.substr(first_temp.rfind('.') + 1)) + 1;
  for (uint64_t n = next; n < next + 3; ++n) {
    std::ofstream(temporary_path_for(path, n)) << "someone else's";
  }
  AtomicFile second;
  ASSERT_EQ(second.open(path), 0);
  EXPECT_EQ(second.temp_path(), temporary_path_for(path, next + 3));
  ASSERT_EQ(second.write("x", 1), 0);
  ASSERT_EQ(second.commit(), 0);
  EXPECT_EQ(read_text(temporary_path_for(path, next)), "someone else's");
  EXPECT_EQ(read_text(path), "x");
}

TEST_F(AtomicFileTest, OpeningADirectoryFailsWithEisdirAndCreatesNothing) {
  fs::create_directory(file("sub"));
  AtomicFile file;
  EXPECT_EQ(file.open(this->file("sub")), EISDIR);
  EXPECT_EQ(names(), std::vector<std::string>{"sub"});
}

TEST_F(AtomicFileTest, OpeningInAMissingDirectoryFailsWithEnoent) {
  AtomicFile file;
  EXPECT_EQ(file.open(this->file("missing/out.bin")), ENOENT);
  EXPECT_TRUE(names().empty());
}

TEST_F(AtomicFileTest, ConcurrentWritersToOnePathAllCommitAndOneWholeContentWins) {
  constexpr int kThreads = 8;
  constexpr int kWritesPerThread = 50;
  const std::string path = file("shared.bin");
  std::vector<std::string> contents;
  for (int t = 0; t < kThreads; ++t) contents.push_back(std::string(1000 + 37 * t, 'a' + t));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i)
        failures += write_atomically(path, contents[t]) != 0;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const std::string final_text = read_text(path);
  EXPECT_NE(std::find(contents.begin(), contents.end(), final_text), contents.end())
      << "torn: " << final_text.size() << " bytes";
  EXPECT_EQ(names(), std::vector<std::string>{"shared.bin"});
}

TEST_F(AtomicFileTest, AFifoIsWrittenAsAStreamAndStaysAFifo) {
  const std::string path = file("pipe");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_TRUE(is_stream_target(path));
  EXPECT_FALSE(is_stream_target(file("absent")));
  // The read end is open before the writer comes, so the writer's open does not wait.
  const int read_fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(read_fd, 0);
  std::atomic<bool> is_written{false};
  std::string received;
  std::thread reader([&] {
    char buffer[4096];
    for (;;) {
      const ssize_t got = ::read(read_fd, buffer, sizeof buffer);
      if (got > 0) {
        received.append(buffer, static_cast<size_t>(got));
      } else if (got == 0 && is_written) {
        break;  // no writer any more, and everything is read
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  });
  const std::string text(200'000, 's');  // more than a pipe holds: the reader must drain it
  AtomicFile out;
  ASSERT_EQ(out.open(path), 0);
  EXPECT_TRUE(out.is_stream());
  EXPECT_EQ(out.temp_path(), "");
  EXPECT_EQ(out.write(text.data(), text.size()), 0);
  EXPECT_EQ(out.commit(), 0);
  is_written = true;
  reader.join();
  ::close(read_fd);
  EXPECT_EQ(received.size(), text.size());
  struct stat info;
  ASSERT_EQ(::lstat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode));
  EXPECT_EQ(names(), std::vector<std::string>{"pipe"});
}

}  // namespace
}  // namespace kvc::io
