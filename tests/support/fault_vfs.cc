// The fault-injecting VFS; see fault_vfs.h.

#include "support/fault_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sqlite_vfs.h"

namespace ehr::testing {

namespace {

enum class Mode { kPassThrough, kPowerLoss, kIoError };

struct FaultFile;

// The page-cache view of one file in power-loss mode: its current content
// and the writes not yet synced.
struct Image {
  struct Op {
    bool truncate = false;
    std::int64_t offset = 0;  // for a truncate: the size
    std::vector<std::uint8_t> bytes;
  };
  std::string path;
  std::vector<std::uint8_t> data;
  std::vector<Op> pending;
  std::vector<FaultFile*> handles;
};

struct FaultFile {
  sqlite3_file base;  // must be first
  sqlite3_file* real = nullptr;
  std::string path;
  std::shared_ptr<Image> image;  // power-loss mode only
};

constexpr std::size_t kRealOffset = (sizeof(FaultFile) + 15) & ~std::size_t{15};

FaultFile* ff(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }

}  // namespace

struct FaultVfs::State {
  sqlite3_vfs vfs{};
  sqlite3_vfs* unix_vfs = nullptr;
  Mode mode = Mode::kPassThrough;
  PowerLoss power;
  IoError io;
  std::mt19937_64 rng;
  bool dead = false;
  std::uint64_t syncs = 0;
  std::uint64_t ops = 0;
  std::uint64_t injected = 0;
  int open_files = 0;
  std::map<std::string, std::weak_ptr<Image>> images;
  // Images whose last handle closed with writes still pending: held until
  // a handle of the file syncs them or the power fails (fault_vfs.h).
  std::vector<std::shared_ptr<Image>> unsynced;
  std::vector<std::vector<std::uint8_t>> log;
  std::uint64_t logged = 0;

  // Counts `op`; true when it must fail now.
  bool fail(unsigned op) {
    if (mode != Mode::kIoError) {
      ++ops;
      return false;
    }
    if ((io.ops & op) == 0) return false;
    ++ops;
    if (io.fail_at != 0 && (ops == io.fail_at || (io.persistent && ops > io.fail_at))) {
      ++injected;
      return true;
    }
    return false;
  }

  Fate random_fate() {
    std::uint64_t r = rng() % 100;
    if (r < 40) return Fate::kApply;
    if (r < 65) return Fate::kLose;
    if (r < 85) return Fate::kTear;
    return Fate::kGarbage;
  }

  void crash();
};

namespace {

FaultVfs::State* g_state = nullptr;

int real_write_all(sqlite3_file* real, const std::uint8_t* p, std::int64_t n, std::int64_t off) {
  return real->pMethods->xWrite(real, p, static_cast<int>(n), off);
}

// Writes the image's pending operations through to the lower file (no sync).
int flush(Image& img) {
  if (img.handles.empty()) return SQLITE_OK;
  sqlite3_file* real = img.handles.front()->real;
  for (const Image::Op& op : img.pending) {
    int rc = op.truncate ? real->pMethods->xTruncate(real, op.offset)
                         : real_write_all(real, op.bytes.data(),
                                          static_cast<std::int64_t>(op.bytes.size()), op.offset);
    if (rc != SQLITE_OK) return rc;
  }
  img.pending.clear();
  return SQLITE_OK;
}

}  // namespace

void FaultVfs::State::crash() {
  if (dead) return;
  std::size_t index = 0;
  for (auto& [path, weak] : images) {
    std::shared_ptr<Image> img = weak.lock();
    if (!img || (img->handles.empty() && img->pending.empty())) continue;
    // A file no handle has open any more gets its fates through one opened
    // for the purpose.
    std::vector<char> own;
    sqlite3_file* real = nullptr;
    if (!img->handles.empty()) {
      real = img->handles.front()->real;
    } else {
      own.assign(static_cast<std::size_t>(unix_vfs->szOsFile), 0);
      real = reinterpret_cast<sqlite3_file*>(own.data());
      int out = 0;
      if (unix_vfs->xOpen(unix_vfs, img->path.c_str(), real, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB, &out) !=
          SQLITE_OK) {
        if (real->pMethods != nullptr) real->pMethods->xClose(real);
        continue;
      }
    }
    for (const Image::Op& op : img->pending) {
      PendingWrite w{path, op.offset,
                     op.truncate ? -1 : static_cast<std::int64_t>(op.bytes.size()), index++};
      Fate fate = power.fate ? power.fate(w) : random_fate();
      if (op.truncate) {
        if (fate == Fate::kApply || fate == Fate::kTear || fate == Fate::kGarbage) {
          real->pMethods->xTruncate(real, op.offset);
        }
        continue;
      }
      const std::int64_t n = static_cast<std::int64_t>(op.bytes.size());
      switch (fate) {
        case Fate::kApply:
          real_write_all(real, op.bytes.data(), n, op.offset);
          break;
        case Fate::kLose:
          break;
        case Fate::kTear: {
          // Each 512-byte sector (aligned in the file) of the write lands or not.
          std::int64_t at = op.offset;
          const std::int64_t end = op.offset + n;
          while (at < end) {
            std::int64_t sector_end = std::min(end, (at / 512 + 1) * 512);
            if (rng() & 1) {
              real_write_all(real, op.bytes.data() + (at - op.offset), sector_end - at, at);
            }
            at = sector_end;
          }
          break;
        }
        case Fate::kGarbage: {
          std::vector<std::uint8_t> junk(op.bytes.size());
          for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
          real_write_all(real, junk.data(), n, op.offset);
          break;
        }
      }
    }
    img->pending.clear();
    img->data.clear();
    if (!own.empty()) real->pMethods->xClose(real);
  }
  unsynced.clear();
  dead = true;
}

namespace {

// --- io methods -------------------------------------------------------------

int f_close(sqlite3_file* file) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (f->image) {
    auto& hs = f->image->handles;
    hs.erase(std::remove(hs.begin(), hs.end(), f), hs.end());
    // Writes still pending stay so after the last close, as in a page
    // cache: the next sync of the file writes them, a power loss decides
    // their fate (see fault_vfs.h).
    if (!s.dead && hs.empty() && !f->image->pending.empty()) s.unsynced.push_back(f->image);
  }
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  f->~FaultFile();
  --s.open_files;
  return rc;
}

int f_read(sqlite3_file* file, void* buf, int amt, sqlite3_int64 off) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpRead)) return SQLITE_IOERR_READ;
  if (!f->image) return f->real->pMethods->xRead(f->real, buf, amt, off);
  const std::vector<std::uint8_t>& d = f->image->data;
  auto* out = static_cast<std::uint8_t*>(buf);
  std::int64_t have = static_cast<std::int64_t>(d.size()) - off;
  std::int64_t n = std::clamp<std::int64_t>(have, 0, amt);
  if (n > 0) std::memcpy(out, d.data() + off, static_cast<std::size_t>(n));
  if (n < amt) {
    std::memset(out + n, 0, static_cast<std::size_t>(amt - n));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int f_write(sqlite3_file* file, const void* buf, int amt, sqlite3_int64 off) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead) return SQLITE_IOERR_WRITE;
  if (s.fail(kOpWrite)) return s.io.full ? SQLITE_FULL : SQLITE_IOERR_WRITE;
  const auto* in = static_cast<const std::uint8_t*>(buf);
  s.log.emplace_back(in, in + amt);
  s.logged += static_cast<std::uint64_t>(amt);
  if (!f->image) return f->real->pMethods->xWrite(f->real, buf, amt, off);
  std::vector<std::uint8_t>& d = f->image->data;
  if (static_cast<std::int64_t>(d.size()) < off + amt) d.resize(static_cast<std::size_t>(off + amt), 0);
  std::memcpy(d.data() + off, in, static_cast<std::size_t>(amt));
  f->image->pending.push_back(Image::Op{false, off, std::vector<std::uint8_t>(in, in + amt)});
  return SQLITE_OK;
}

int f_truncate(sqlite3_file* file, sqlite3_int64 size) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpTruncate)) return SQLITE_IOERR_TRUNCATE;
  if (!f->image) return f->real->pMethods->xTruncate(f->real, size);
  f->image->data.resize(static_cast<std::size_t>(size), 0);
  f->image->pending.push_back(Image::Op{true, size, {}});
  return SQLITE_OK;
}

int f_sync(sqlite3_file* file, int flags) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead) return SQLITE_IOERR_FSYNC;
  ++s.syncs;
  if (s.fail(kOpSync)) return SQLITE_IOERR_FSYNC;
  if (s.mode == Mode::kPowerLoss && s.power.crash_at_sync == s.syncs) {
    s.crash();
    return SQLITE_IOERR_FSYNC;
  }
  if (f->image) {
    int rc = flush(*f->image);
    if (rc != SQLITE_OK) return rc;
  }
  // Durability is simulated: the flush above is what "reached the disk".
  // A real fsync would only make the tests slow and their time depend on
  // the machine's disk, so only pass-through mode really syncs.
  if (s.mode != Mode::kPassThrough) return SQLITE_OK;
  return f->real->pMethods->xSync(f->real, flags);
}

int f_file_size(sqlite3_file* file, sqlite3_int64* size) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpFileSize)) return SQLITE_IOERR_FSTAT;
  if (!f->image) return f->real->pMethods->xFileSize(f->real, size);
  *size = static_cast<sqlite3_int64>(f->image->data.size());
  return SQLITE_OK;
}

int f_lock(sqlite3_file* file, int level) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpLock)) return SQLITE_IOERR_LOCK;
  return f->real->pMethods->xLock(f->real, level);
}

int f_unlock(sqlite3_file* file, int level) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xUnlock(f->real, level);  // releasing touches no data
}

int f_check_reserved(sqlite3_file* file, int* out) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpCheckReserved)) return SQLITE_IOERR_CHECKRESERVEDLOCK;
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

int f_file_control(sqlite3_file* file, int op, void* arg) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead) return SQLITE_NOTFOUND;
  // unix would extend the real file behind the image's back; it is a hint.
  if (op == SQLITE_FCNTL_SIZE_HINT && f->image) return SQLITE_OK;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int f_sector_size(sqlite3_file* file) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int f_device_characteristics(sqlite3_file* file) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

int f_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpShmMap)) return SQLITE_IOERR_SHMMAP;
  return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

int f_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  FaultFile* f = ff(file);
  FaultVfs::State& s = *g_state;
  if ((flags & SQLITE_SHM_LOCK) != 0 && (s.dead || s.fail(kOpShmLock))) {
    return SQLITE_IOERR_SHMLOCK;
  }
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

void f_shm_barrier(sqlite3_file* file) {
  FaultFile* f = ff(file);
  f->real->pMethods->xShmBarrier(f->real);
}

int f_shm_unmap(sqlite3_file* file, int delete_flag) {
  FaultFile* f = ff(file);
  // After a power loss the -shm stays, as it would on disk.
  return f->real->pMethods->xShmUnmap(f->real, g_state->dead ? 0 : delete_flag);
}

const sqlite3_io_methods kFaultMethods = {
    2,
    f_close,
    f_read,
    f_write,
    f_truncate,
    f_sync,
    f_file_size,
    f_lock,
    f_unlock,
    f_check_reserved,
    f_file_control,
    f_sector_size,
    f_device_characteristics,
    f_shm_map,
    f_shm_lock,
    f_shm_barrier,
    f_shm_unmap,
    nullptr,
    nullptr,
};

// --- vfs methods --------------------------------------------------------------

sqlite3_vfs* lower() { return g_state->unix_vfs; }

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  FaultVfs::State& s = *g_state;
  file->pMethods = nullptr;
  if (s.dead || s.fail(kOpOpen)) return SQLITE_CANTOPEN;
  FaultFile* f = new (file) FaultFile();
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  f->path = name != nullptr ? name : "";
  int rc = lower()->xOpen(lower(), name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    f->~FaultFile();
    file->pMethods = nullptr;
    return rc;
  }
  if (s.mode == Mode::kPowerLoss && name != nullptr) {
    std::shared_ptr<Image> img = s.images[f->path].lock();
    if (!img) {
      img = std::make_shared<Image>();
      img->path = f->path;
      sqlite3_int64 size = 0;
      rc = f->real->pMethods->xFileSize(f->real, &size);
      if (rc == SQLITE_OK && size > 0) {
        img->data.resize(static_cast<std::size_t>(size));
        rc = f->real->pMethods->xRead(f->real, img->data.data(), static_cast<int>(size), 0);
      }
      if (rc != SQLITE_OK) {
        f->real->pMethods->xClose(f->real);
        f->~FaultFile();
        file->pMethods = nullptr;
        return rc;
      }
      s.images[f->path] = img;
    }
    s.unsynced.erase(std::remove(s.unsynced.begin(), s.unsynced.end(), img), s.unsynced.end());
    img->handles.push_back(f);
    f->image = std::move(img);
  }
  ++s.open_files;
  f->base.pMethods = &kFaultMethods;
  return SQLITE_OK;
}

int v_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  FaultVfs::State& s = *g_state;
  if (s.dead || s.fail(kOpDelete)) return SQLITE_IOERR_DELETE;
  if (auto it = s.images.find(name); it != s.images.end()) {
    if (std::shared_ptr<Image> img = it->second.lock()) {
      img->data.clear();
      img->pending.clear();
      s.unsynced.erase(std::remove(s.unsynced.begin(), s.unsynced.end(), img), s.unsynced.end());
    }
  }
  return lower()->xDelete(lower(), name, sync_dir);
}

int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  FaultVfs::State& s = *g_state;
  if (s.fail(kOpAccess)) return SQLITE_IOERR_ACCESS;
  return lower()->xAccess(lower(), name, flags, out);
}

int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return lower()->xFullPathname(lower(), name, n, out);
}
void* v_dl_open(sqlite3_vfs*, const char* name) { return lower()->xDlOpen(lower(), name); }
void v_dl_error(sqlite3_vfs*, int n, char* out) { lower()->xDlError(lower(), n, out); }
void (*v_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return lower()->xDlSym(lower(), h, sym);
}
void v_dl_close(sqlite3_vfs*, void* h) { lower()->xDlClose(lower(), h); }
int v_randomness(sqlite3_vfs*, int n, char* out) { return lower()->xRandomness(lower(), n, out); }
int v_sleep(sqlite3_vfs*, int us) { return lower()->xSleep(lower(), us); }
int v_current_time(sqlite3_vfs*, double* out) { return lower()->xCurrentTime(lower(), out); }
int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return lower()->xGetLastError(lower(), n, out);
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return lower()->xCurrentTimeInt64(lower(), out);
}

}  // namespace

const char* fault_op_name(unsigned op) {
  switch (op) {
    case kOpRead: return "xRead";
    case kOpWrite: return "xWrite";
    case kOpSync: return "xSync";
    case kOpTruncate: return "xTruncate";
    case kOpFileSize: return "xFileSize";
    case kOpLock: return "xLock";
    case kOpCheckReserved: return "xCheckReservedLock";
    case kOpShmMap: return "xShmMap";
    case kOpShmLock: return "xShmLock";
    case kOpOpen: return "xOpen";
    case kOpDelete: return "xDelete";
    case kOpAccess: return "xAccess";
    default: return "?";
  }
}

FaultVfs::FaultVfs() : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.unix_vfs = sqlite3_vfs_find("unix");
  if (s.unix_vfs == nullptr) throw std::runtime_error("no unix VFS");
  g_state = &s;
  sqlite3_vfs& v = s.vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(kRealOffset) + s.unix_vfs->szOsFile;
  v.mxPathname = s.unix_vfs->mxPathname;
  v.zName = kName;
  v.xOpen = v_open;
  v.xDelete = v_delete;
  v.xAccess = v_access;
  v.xFullPathname = v_full_pathname;
  v.xDlOpen = v_dl_open;
  v.xDlError = v_dl_error;
  v.xDlSym = v_dl_sym;
  v.xDlClose = v_dl_close;
  v.xRandomness = v_randomness;
  v.xSleep = v_sleep;
  v.xCurrentTime = v_current_time;
  v.xGetLastError = v_get_last_error;
  v.xCurrentTimeInt64 = v_current_time_int64;
  if (sqlite3_vfs_register(&v, 0) != SQLITE_OK) throw std::runtime_error("cannot register ehrfault");
  if (vfs::register_vfs_over_for_testing(kShimName, kName) != SQLITE_OK) {
    throw std::runtime_error("cannot register the shim over ehrfault");
  }
}

FaultVfs& FaultVfs::get() {
  // Lives for the rest of the process: SQLite keeps a pointer to its vfs.
  static FaultVfs* instance = new FaultVfs();
  return *instance;
}

namespace {

void clear(FaultVfs::State& s) {
  if (s.open_files != 0) throw std::logic_error("FaultVfs reset with files open");
  s.dead = false;
  s.syncs = 0;
  s.ops = 0;
  s.injected = 0;
  // A run that ended without a power loss: what it left pending is dropped
  // (the test may have restored the files since).
  s.unsynced.clear();
  s.images.clear();
  s.log.clear();
  s.logged = 0;
}

}  // namespace

void FaultVfs::reset_pass_through() {
  clear(*state_);
  state_->mode = Mode::kPassThrough;
}

void FaultVfs::reset(const PowerLoss& config) {
  clear(*state_);
  state_->mode = Mode::kPowerLoss;
  state_->power = config;
  state_->rng.seed(config.seed);
}

void FaultVfs::reset(const IoError& config) {
  clear(*state_);
  state_->mode = Mode::kIoError;
  state_->io = config;
}

void FaultVfs::crash_now() { state_->crash(); }
bool FaultVfs::crashed() const { return state_->dead; }
std::uint64_t FaultVfs::syncs() const { return state_->syncs; }
std::uint64_t FaultVfs::ops() const { return state_->ops; }
std::uint64_t FaultVfs::injected() const { return state_->injected; }
int FaultVfs::open_files() const { return state_->open_files; }
std::uint64_t FaultVfs::bytes_written() const { return state_->logged; }
std::uint64_t FaultVfs::writes() const { return state_->log.size(); }

std::uint64_t FaultVfs::writes_of_length(std::uint64_t length) const {
  return static_cast<std::uint64_t>(std::count_if(state_->log.begin(), state_->log.end(),
                                                  [length](const auto& w) { return w.size() == length; }));
}

bool FaultVfs::lower_saw(std::string_view needle) const {
  if (needle.empty()) return false;
  for (const std::vector<std::uint8_t>& w : state_->log) {
    if (std::search(w.begin(), w.end(), needle.begin(), needle.end(),
                    [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); }) !=
        w.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace ehr::testing
