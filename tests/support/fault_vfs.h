// A fault-injecting SQLite VFS for the fault tests (encrypted-store.md §8,
// T8 and T9). It sits BELOW the ehrcrypt shim and over "unix":
//
//   SQLite -> "ehrcrypt-over-fault" (the shim, vfs::register_vfs_over_for_testing)
//          -> "ehrfault" (this file) -> "unix"
//
// so it sees exactly the bytes the shim hands to the disk. Modelled on the
// crash VFS of SQLite's src/test6.c (the ideas, not the code).
//
// Modes (chosen by reset(); files must be opened after it):
//   pass-through  counts operations and syncs, logs writes; used for dry runs.
//   power loss    every write (and truncate) is held in a per-file image in
//                 memory, as an OS page cache would, until that file's
//                 xSync writes it through (without a real fsync: the
//                 power loss is simulated, so only pass-through mode
//                 syncs for real; the I/O-error mode neither). Reads, sizes and
//                 truncates see the image. At the chosen xSync (or at
//                 crash_now()) the power fails: each pending write of every
//                 file is applied, lost, torn at 512-byte sector
//                 granularity (each sector of it applied or not) or replaced
//                 by garbage, from a seeded RNG or a caller's chooser; then
//                 the stack is dead: every later operation fails with an
//                 I/O error and touches nothing, closes release locks only,
//                 and the -shm file is not deleted. Writes pending when
//                 the last handle of a file closes stay pending (ehr's
//                 shim voids a reused WAL's header at close, unsynced): a
//                 later handle's sync of the file writes them, a power
//                 loss gives them their fates, and the next reset() drops
//                 them (the test may have restored the files).
//   I/O error     counts the operations named in a mask (xRead, xWrite,
//                 xSync, xTruncate, xFileSize, xLock, xCheckReservedLock,
//                 xShmMap, xShmLock acquisitions, xOpen, xDelete, xAccess)
//                 and fails number N with the operation's SQLITE_IOERR_*
//                 code (SQLITE_FULL for writes if asked), once or
//                 persistently from N on, like do_ioerr_test in SQLite's
//                 test/tester.tcl.
// In every mode every byte handed to xWrite is logged, so tests can assert
// that no plaintext ever reached the layer below the shim.
//
// Not thread-safe: one test thread drives one stack at a time.

#ifndef EHR_TESTS_SUPPORT_FAULT_VFS_H_
#define EHR_TESTS_SUPPORT_FAULT_VFS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ehr::testing {

// Operation kinds, as bits of a mask.
enum FaultOp : unsigned {
  kOpRead = 1u << 0,
  kOpWrite = 1u << 1,
  kOpSync = 1u << 2,
  kOpTruncate = 1u << 3,
  kOpFileSize = 1u << 4,
  kOpLock = 1u << 5,
  kOpCheckReserved = 1u << 6,
  kOpShmMap = 1u << 7,
  kOpShmLock = 1u << 8,
  kOpOpen = 1u << 9,
  kOpDelete = 1u << 10,
  kOpAccess = 1u << 11,
};
inline constexpr unsigned kAllFaultOps = (1u << 12) - 1;

// "xRead", "xWrite", ... for one bit.
const char* fault_op_name(unsigned op);

// What a power loss does to one pending write.
enum class Fate { kApply, kLose, kTear, kGarbage };

// A pending write (or truncate) as a fate chooser sees it.
struct PendingWrite {
  std::string path;
  std::int64_t offset = 0;  // for a truncate: the new size
  std::int64_t length = 0;  // -1 for a truncate
  std::size_t index = 0;    // 0-based, in order over all files
};

struct PowerLoss {
  // The n-th xSync (1-based, counted over all files) crashes instead of
  // syncing and returns SQLITE_IOERR_FSYNC; 0 never.
  std::uint64_t crash_at_sync = 0;
  std::uint32_t seed = 1;
  // The fate of each pending write; when empty, seeded random: apply 40%,
  // lose 25%, tear 20%, garbage 15%. A truncate that is torn or garbage is
  // applied.
  std::function<Fate(const PendingWrite&)> fate;
};

struct IoError {
  std::uint64_t fail_at = 0;    // the n-th counted operation (1-based) fails; 0 never
  bool persistent = false;      // and so does every counted one after it
  unsigned ops = kAllFaultOps;  // the operations counted (and failed)
  bool full = false;            // a failing write returns SQLITE_FULL
};

class FaultVfs {
 public:
  static constexpr const char* kName = "ehrfault";
  // An ehrcrypt shim instance over this VFS.
  static constexpr const char* kShimName = "ehrcrypt-over-fault";

  // The process-wide instance; registers "ehrfault" and the shim instance
  // on first use (neither as the default VFS).
  static FaultVfs& get();

  // Start a new run in the given mode: counters, log and state are cleared.
  // REQUIRES: no file of this VFS is open.
  void reset_pass_through();
  void reset(const PowerLoss& config);
  void reset(const IoError& config);

  // Power-loss mode: the power fails now (as at a crashing xSync).
  void crash_now();
  bool crashed() const;

  std::uint64_t syncs() const;     // xSync calls so far
  std::uint64_t ops() const;       // operations counted so far (by the mask in I/O-error mode)
  std::uint64_t injected() const;  // errors injected so far
  int open_files() const;

  // Every write handed to this VFS since the last reset.
  std::uint64_t bytes_written() const;
  std::uint64_t writes() const;
  // How many of them were exactly `length` bytes long.
  std::uint64_t writes_of_length(std::uint64_t length) const;
  // True when some single write contained `needle`.
  bool lower_saw(std::string_view needle) const;

  struct State;

 private:
  FaultVfs();
  std::unique_ptr<State> state_;
};

}  // namespace ehr::testing

#endif  // EHR_TESTS_SUPPORT_FAULT_VFS_H_
