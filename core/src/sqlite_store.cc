// Opening SQLite on encrypted stores and the store maintenance operations;
// see sqlite_store.h. Also implements the public ehr::Store (ehr/store.h).
//
// Sections:
//   1. error mapping
//   2. Statement and Connection
//   3. file helpers (URIs, exclusive create, directory fsync, cleanup)
//   4. open and create
//   5. key-slot changes
//   6. list, info, check, backup, rotate
//   7. the public ehr::Store

#include "sqlite_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include "temp_files.h"

namespace ehr::store {
namespace {

constexpr std::string_view kAuthFailed = "wrong passphrase or key";
constexpr std::uint32_t kApplicationId = 0x45485231;  // "EHR1" in page 1

}  // namespace

// --- 1. error mapping -----------------------------------------------------------

ErrorCode error_code_for(int rc) {
  if (rc == SQLITE_IOERR_DATA) return ErrorCode::kCorruption;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorCode::kBusy;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ErrorCode::kCorruption;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY: return ErrorCode::kIoError;
    case SQLITE_CANTOPEN: return ErrorCode::kNoInput;
    case SQLITE_PERM:
    case SQLITE_AUTH: return ErrorCode::kAccessDenied;
    case SQLITE_INTERRUPT: return ErrorCode::kInterrupted;
    case SQLITE_CONSTRAINT: return ErrorCode::kConflict;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH: return ErrorCode::kInvalidArgument;
    default: return ErrorCode::kInternal;
  }
}

Error replaced_error(std::string_view what) {
  return Error::busy(fmt::format(
      "{} was replaced while this command waited (ehr db rotate-key); run it again", what));
}

Error sqlite_error(sqlite3* db, int rc, std::string_view context,
                   vfs::KeyContext* ctx) {
  if (ctx != nullptr && ctx->replaced()) return replaced_error(context);
  // A full disk or a file that cannot be written is the operator's to fix:
  // name the database, not the statement (QA finding: "sql failed: database
  // or disk is full").
  if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_READONLY) {
    const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
    std::string where = file != nullptr && *file != '\0' ? std::string(file) : std::string(context);
    if ((rc & 0xff) == SQLITE_FULL) return Error::io_error(where + ": the disk is full");
    return Error::io_error(where + ": the database is read-only");
  }
  std::string what;
  if (rc == SQLITE_IOERR_DATA) {
    what = "page authentication failed";
    if (ctx != nullptr) {
      if (std::optional<std::string> f = ctx->take_failure()) what += ": " + *f;
    }
  } else if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    what = sqlite3_errmsg(db);
  } else {
    what = sqlite3_errstr(rc);
  }
  return Error(error_code_for(rc), fmt::format("{}: {}", context, what));
}

// --- 2. Statement and Connection --------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      ctx_(other.ctx_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    ctx_ = other.ctx_;
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Status Statement::check(int rc, std::string_view what) const {
  if (rc == SQLITE_OK) return {};
  return sqlite_error(db_, rc, what, ctx_);
}

Status Statement::bind_text(int index, std::string_view text) {
  return check(sqlite3_bind_text64(stmt_, index, text.data(), text.size(),
                                   SQLITE_TRANSIENT, SQLITE_UTF8),
               "bind");
}

Status Statement::bind_int(int index, std::int64_t value) {
  return check(sqlite3_bind_int64(stmt_, index, value), "bind");
}

Status Statement::bind_blob(int index, std::span<const std::uint8_t> blob) {
  // A non-null pointer even for an empty blob, so it binds '' not NULL.
  static const std::uint8_t kEmpty = 0;
  return check(sqlite3_bind_blob64(stmt_, index,
                                   blob.empty() ? &kEmpty : blob.data(),
                                   blob.size(), SQLITE_TRANSIENT),
               "bind");
}

Status Statement::bind_null(int index) {
  return check(sqlite3_bind_null(stmt_, index), "bind");
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(db_, rc, "query failed", ctx_);
}

Status Statement::reset() {
  sqlite3_reset(stmt_);  // its result repeats the last step's error
  return {};
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::optional<std::int64_t> Statement::column_integer(int index) const {
  if (sqlite3_column_type(stmt_, index) != SQLITE_INTEGER) return std::nullopt;
  return sqlite3_column_int64(stmt_, index);
}

std::string Statement::column_text(int index) const {
  const unsigned char* p = sqlite3_column_text(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

std::string_view Statement::column_view(int index) const {
  const unsigned char* p = sqlite3_column_text(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string_view();
}

std::span<const std::uint8_t> Statement::column_bytes(int index) const {
  const void* p = sqlite3_column_blob(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  return p ? std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(p), static_cast<size_t>(n))
           : std::span<const std::uint8_t>();
}

std::vector<std::uint8_t> Statement::column_blob(int index) const {
  const void* p = sqlite3_column_blob(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  const auto* b = static_cast<const std::uint8_t*>(p);
  return p ? std::vector<std::uint8_t>(b, b + n) : std::vector<std::uint8_t>();
}

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      handle_(std::exchange(other.handle_, std::string())),
      ctx_(std::move(other.ctx_)),
      dek_(std::move(other.dek_)),
      slot_(other.slot_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    handle_ = std::exchange(other.handle_, std::string());
    ctx_ = std::move(other.ctx_);
    dek_ = std::move(other.dek_);
    slot_ = other.slot_;
  }
  return *this;
}

Connection::~Connection() { close(); }

namespace {

// The size of the WAL `db` has open, or 0.
std::int64_t wal_size(sqlite3* db) {
  sqlite3_file* wal = nullptr;
  sqlite3_int64 size = 0;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
      wal == nullptr || wal->pMethods == nullptr ||
      wal->pMethods->xFileSize(wal, &size) != SQLITE_OK) {
    return 0;
  }
  return size;
}

// Closes `db` as described at kKeepWalBytes (sqlite_store.h).
void close_connection(sqlite3* db, const vfs::KeyContext* ctx) {
  if (ctx != nullptr && !ctx->anomaly()) {
    const std::int64_t file = wal_size(db);
    // What the WAL holds: its frames by the wal-index, or (none mapped) the
    // file's size, which a reused file's old frames make larger.
    std::int64_t frames = -1;
    sqlite3_file_control(db, "main", vfs::kFcntlWalFrames, &frames);
    const std::int64_t held = frames < 0    ? file
                              : frames == 0 ? 0
                                            : vfs::kWalHeaderSize + frames * vfs::kWalFrameSize;
    if (held > 0 && held <= kKeepWalBytes) {
      sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    } else if (file >= vfs::kWalHeaderSize + vfs::kWalFrameSize && file <= kReuseWalBytes) {
      int reuse = 1;
      sqlite3_file_control(db, "main", vfs::kFcntlReuseWal, &reuse);
    }
  }
  sqlite3_close_v2(db);
}

}  // namespace

void Connection::close() {
  if (db_ != nullptr) close_connection(db_, ctx_.get());
  db_ = nullptr;
  if (!handle_.empty()) vfs::unregister_key(handle_);
  handle_.clear();
  ctx_.reset();
  dek_ = crypto::SecureBytes();
}

Status Connection::exec(std::string_view sql) {
  std::string s(sql);
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc, "sql failed", ctx_.get());
  return {};
}

Result<Statement> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                              &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return sqlite_error(db_, rc, "prepare failed", ctx_.get());
  }
  return Statement(db_, stmt, ctx_.get());
}

namespace {

void call_text_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto fn = reinterpret_cast<std::string (*)(std::string_view)>(sqlite3_user_data(ctx));
  const unsigned char* text = sqlite3_value_text(argv[0]);
  std::string_view arg;
  if (text != nullptr)
    arg = std::string_view(reinterpret_cast<const char*>(text),
                           static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  std::string out = fn(arg);
  sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
}

}  // namespace

Status Connection::define_text_function(const char* name, std::string (*fn)(std::string_view)) {
  int rc = sqlite3_create_function(db_, name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                   reinterpret_cast<void*>(fn), call_text_function, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc, std::string("defining SQL function ") + name);
  return {};
}

Result<std::string> Connection::query_text(std::string_view sql) {
  Result<Statement> st = prepare(sql);
  if (!st.ok()) return st.error();
  Result<bool> row = st->step();
  if (!row.ok()) return row.error();
  if (!*row) return Error::not_found("no rows");
  return st->column_text(0);
}

namespace {

// --- 3. file helpers -------------------------------------------------------------

std::string errno_text(int e) { return std::strerror(e); }

// "file:" URI of `path` with ehrkey=`handle`; the path is made absolute and
// every byte outside a safe set is percent-encoded.
std::string make_uri(const std::string& path, const std::string& handle) {
  std::error_code ec;  // absolute() throws when the working directory is gone; keep the path then
  std::filesystem::path full = std::filesystem::absolute(path, ec);
  std::string abs = (ec ? std::filesystem::path(path) : full).lexically_normal().string();
  std::string uri = "file:";
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : abs) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '_' ||
                c == '.' || c == '~';
    if (safe) {
      uri.push_back(static_cast<char>(c));
    } else {
      uri.push_back('%');
      uri.push_back(kHex[c >> 4]);
      uri.push_back(kHex[c & 15]);
    }
  }
  return uri + "?ehrkey=" + handle;
}

// Checks that `path` names an existing regular file.
Status check_existing(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error::no_input(path + ": no such file");
    }
    return Error::io_error(path + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) return Error::no_input(path + ": not a regular file");
  return {};
}

// Creates `path` exclusively with mode 0600, empty.
Status create_exclusive(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Error::already_exists(path + ": already exists");
    return Error::cant_create(path + ": cannot create: " + errno_text(errno));
  }
  // Whatever the umask, the file is 0600 (and so are -wal/-shm, which the
  // unix VFS creates with the database's mode).
  int rc = ::fchmod(fd, 0600);
  int saved = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(path.c_str());
    return Error::cant_create(path + ": cannot create: " + errno_text(saved));
  }
  return {};
}

// fsyncs the directory holding `path`, so a create or rename is durable.
void sync_parent_dir(const std::string& path) {
  std::error_code ec;  // absolute() throws when the working directory is gone
  std::filesystem::path full = std::filesystem::absolute(path, ec);
  if (ec) return;
  std::string dir = full.parent_path().string();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Removes `path` and every SQLite side file of it.
void remove_store_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    ::unlink((path + suffix).c_str());
  }
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The temporaries a backup to `target`, or the creation of a store there,
// builds the file in are ".NAME.tmp-XXXXXXXX" beside it: hidden, and told
// apart from NAME's own -wal or -journal. Either command removes the ones
// a killed run of either left (detail::remove_stale_temps).
std::string temp_prefix(const std::string& target) {
  auto slash = target.rfind('/');
  std::string dir = slash == std::string::npos ? "" : target.substr(0, slash + 1);
  std::string name = slash == std::string::npos ? target : target.substr(slash + 1);
  return dir + "." + name + ".tmp-";
}

// Moves `tmp` to `target` unless something is there: renameat2 with
// RENAME_NOREPLACE, or link() and unlink() where the file system lacks it.
Status move_into_place(const std::string& tmp, const std::string& target) {
  int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
  int e = errno;
  if (rc != 0 && (e == EINVAL || e == ENOSYS || e == ENOTSUP)) {
    rc = ::link(tmp.c_str(), target.c_str());
    e = errno;
    if (rc == 0) ::unlink(tmp.c_str());
  }
  if (rc == 0) return {};
  if (e == EEXIST) return Error::already_exists(target + ": already exists");
  return Error::cant_create(target + ": cannot create: " + errno_text(e));
}

// Whether the file at `path` now has a file id other than `id` (or cannot
// be read): another file was renamed over it.
bool file_id_changed(const std::string& path, const FileId& id) {
  HeaderBytes bytes{};
  if (vfs::read_header_at(path, bytes) != SQLITE_OK) return true;
  for (std::size_t i = 0; i < 2; ++i) {
    Result<DecodedCopy> d = decode_copy(crypto::Bytes(bytes).subspan(i * kCopySize, kCopySize));
    if (d.ok() && d->header.file_id == id) return false;
  }
  return true;
}

HeaderBytes both_copies(const Header& h, crypto::Bytes dek) {
  Subkeys keys = derive_subkeys(dek);
  CopyBytes copy = encode_copy(h, keys.hdr.span());
  HeaderBytes out{};
  std::memcpy(out.data(), copy.data(), kCopySize);
  std::memcpy(out.data() + kCopySize, copy.data(), kCopySize);
  return out;
}

// Creates `path` holding only `bytes` as its header. On failure nothing is
// left behind.
Status create_header_file(const std::string& path, const HeaderBytes& bytes) {
  EHR_TRY(create_exclusive(path));
  int rc = vfs::write_header_at(path, bytes);
  if (rc != SQLITE_OK) {
    ::unlink(path.c_str());
    return sqlite_error(nullptr, rc, path + ": cannot write the header");
  }
  sync_parent_dir(path);
  return {};
}

}  // namespace

Result<Statement*> StatementCache::get(Connection& db, const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto st = db.prepare(sql);
    if (!st.ok()) return st.error();
    it = cache_.emplace(sql, std::make_unique<Statement>(std::move(*st))).first;
  } else {
    (void)it->second->reset();
  }
  return it->second.get();
}

void StatementCache::reset_all() {
  for (auto& [sql, st] : cache_) (void)st->reset();
}

// --- 4. open and create ------------------------------------------------------------

Result<Connection> open_unlocked(const std::string& path, Unlocked unlocked,
                                 const OpenOptions& options, bool exclusive,
                                 bool is_new, const char* vfs_name) {
  Connection c;
  c.path_ = path;
  c.dek_ = std::move(unlocked.dek);
  c.slot_ = unlocked.slot;
  c.ctx_ = std::make_shared<vfs::KeyContext>(unlocked.header.file_id, c.dek_.span());
  c.handle_ = vfs::register_key(c.ctx_);

  std::string uri = make_uri(path, c.handle_);
  // NOMUTEX: a Connection is used by one thread at a time (its contract,
  // sqlite_store.h), so SQLite need not lock it on every call (about 5% of a
  // scan's time: `ehr audit verify` reads 16 columns a row).
  int rc = sqlite3_open_v2(uri.c_str(), &c.db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI |
                               SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX,
                           vfs_name);
  if (rc != SQLITE_OK) {
    return sqlite_error(c.db_, rc, path, c.ctx_.get());
  }
  sqlite3_extended_result_codes(c.db_, 1);
  sqlite3_busy_timeout(c.db_, options.busy_timeout_ms);
  sqlite3_db_config(c.db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(c.db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);

  // Setup errors read "<path>: <what>"; a lock held elsewhere is "in use".
  // A file renamed over while this waited for its lock (x_lock in
  // sqlite_vfs.cc) is "<path> was replaced ...".
  auto run = [&](const std::string& sql) -> Status {
    int rc2 = sqlite3_exec(c.db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc2 == SQLITE_OK) return {};
    if (c.ctx_->replaced()) return replaced_error(path);
    if (error_code_for(rc2) == ErrorCode::kBusy) {
      return Error::busy(path + ": database is in use");
    }
    return sqlite_error(c.db_, rc2, path, c.ctx_.get());
  };
  auto text = [&](const std::string& sql) -> Result<std::string> {
    Result<std::string> r = c.query_text(sql);
    if (r.ok()) return r;
    if (c.ctx_->replaced()) return replaced_error(path);
    if (r.error().is(ErrorCode::kBusy)) return Error::busy(path + ": database is in use");
    // query_text's context is "query failed"; name the file instead.
    std::string msg = r.error().message();
    std::string_view prefix = "query failed: ";
    if (msg.starts_with(prefix)) msg = msg.substr(prefix.size());
    return Error(r.error().code(), path + ": " + msg);
  };

  if (is_new) {
    // Must happen before the first write; SQLite ignores it silently later,
    // so read it back (§3).
    int reserve = kReserve;
    sqlite3_file_control(c.db_, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    reserve = -1;
    sqlite3_file_control(c.db_, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    if (reserve != static_cast<int>(kReserve)) {
      return Error::internal(path + ": could not set the page reserve");
    }
  }
  EHR_TRY(run(fmt::format("PRAGMA temp_store=MEMORY;{}{}"
                          "PRAGMA journal_mode=WAL;"
                          "PRAGMA synchronous=FULL;"
                          "PRAGMA cell_size_check=ON;"
                          "PRAGMA trusted_schema=OFF;"
                          "PRAGMA cache_size=-65536;"
                          // Checkpoint every 10000 WAL frames, not SQLite's
                          // 1000: a checkpoint decrypts each page from the WAL
                          // and re-encrypts it into the db, and a page that
                          // many transactions rewrite is copied once per
                          // checkpoint (scripts/bench store: bulk inserts
                          // ~40% faster). The WAL reaches ~40 MiB before a
                          // checkpoint and is deleted at the last close.
                          "PRAGMA wal_autocheckpoint=10000;",
                          exclusive ? "PRAGMA locking_mode=EXCLUSIVE;" : "",
                          is_new ? "PRAGMA auto_vacuum=NONE;" : "")));
  Result<std::string> mode = text("PRAGMA journal_mode");
  if (!mode.ok()) return mode.error();
  if (*mode != "wal") return Error::internal(path + ": could not enter WAL mode");
  if (is_new) {
    // Writes page 1 (reserve 48) and marks the inner database as ehr's.
    EHR_TRY(run(fmt::format("PRAGMA application_id={}", kApplicationId)));
  }
  // A read transaction runs WAL recovery if needed; then ask the shim.
  Result<std::string> count = text("SELECT count(*) FROM sqlite_schema");
  if (!count.ok()) return count.error();
  Result<std::string> status = text("PRAGMA ehr_status");
  if (!status.ok()) return status.error();
  if (*status != "ok" && !options.allow_wal_anomaly) {
    return Error::corruption(
        fmt::format("{}: {}; the WAL was kept for recovery", path, *status));
  }
  return c;
}

namespace {

// Why `path` cannot be opened for writing, or "" when it can: the file must
// be writable, and so must its directory unless the -wal and -shm are there
// already and writable.
std::string read_only_reason(const std::string& path) {
  auto reason = [](int e, const char* what) {
    return e == EROFS ? std::string("it is on a read-only file system") : std::string(what);
  };
  if (::access(path.c_str(), W_OK) != 0) return reason(errno, "the file is not writable");
  // A -wal or -shm left by another user (one run under sudo): SQLite says
  // only "unable to open database file" or "read-only" (QA finding ops 03).
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string side = path + suffix;
    struct stat st;
    if (::stat(side.c_str(), &st) != 0 || ::access(side.c_str(), W_OK) == 0) continue;
    if (errno == EROFS) return reason(errno, "");
    return fmt::format("{} is not writable by this user (owner uid {}, mode {:04o}); it may have been left by a "
                       "run as another user: give it back to the database's owner",
                       side, st.st_uid, st.st_mode & 07777);
  }
  if (::access((path + "-wal").c_str(), W_OK) == 0 && ::access((path + "-shm").c_str(), W_OK) == 0) return "";
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
  if (ec) return "";
  if (::access(dir.c_str(), W_OK) != 0)
    return reason(errno, "its directory is not writable, and ehr keeps a -wal and a -shm file beside it");
  return "";
}

Result<Connection> open_store_on(const std::string& path, const Secret& secret,
                                 const OpenOptions& options, bool exclusive,
                                 const char* vfs_name) {
  if (vfs::register_vfs() != SQLITE_OK) return Error::internal("cannot register the VFS");
  EHR_TRY(check_existing(path));
  HeaderBytes bytes{};
  int rc = vfs::read_header_at(path, bytes);
  if (rc == SQLITE_NOTADB) return Error::corruption(path + ": not an ehr file");
  if (rc != SQLITE_OK) return sqlite_error(nullptr, rc, path + ": cannot read");
  Result<Unlocked> u = unlock(bytes, secret, options.user);
  if (!u.ok()) {
    if (u.error().is(ErrorCode::kAuthFailed)) {
      return Error::auth_failed(std::string(kAuthFailed));
    }
    return u.error().with_context(path);
  }
  // Every open writes: the WAL and its -shm beside the file, and (for all
  // but db info, check and recover) an audit entry. Say so before SQLite
  // fails somewhere inside (QA finding: a 0400 backup gave exit 70 "attempt
  // to write a readonly database", a read-only mount 66 "unable to open").
  if (std::string why = read_only_reason(path); !why.empty())
    return Error::io_error(path + ": the database is read-only (" + why + ")");
  const FileId file_id = u->header.file_id;
  Result<Connection> c = open_unlocked(path, std::move(u).value(), options, exclusive, false, vfs_name);
  // The header read above was the old file's, and SQLite opened the new one
  // `ehr db rotate-key` renamed over it since: its header does not
  // authenticate for the old key ("not a database").
  if (!c.ok() && c.error().is(ErrorCode::kCorruption) && file_id_changed(path, file_id)) {
    return replaced_error(path);
  }
  return c;
}

// The header of a new store at `path`, before any I/O: nothing may be at
// `path`, and no leftover WAL or journal, which would be replayed into it.
Result<NewHeader> new_store_header(const std::string& path, const SlotSpec& first, const Secret& secret) {
  if (vfs::register_vfs() != SQLITE_OK) return Error::internal("cannot register the VFS");
  for (const char* suffix : {"", "-wal", "-journal"}) {
    if (path_exists(path + suffix)) {
      return Error::already_exists(path + suffix + ": already exists");
    }
  }
  return new_header(first, secret);  // validates the slot options
}

Result<Connection> create_store_on(const std::string& path, const SlotSpec& first,
                                   const Secret& secret, const char* vfs_name) {
  Result<NewHeader> nh = new_store_header(path, first, secret);
  if (!nh.ok()) return nh.error();
  EHR_TRY(create_header_file(path, both_copies(nh->header, nh->dek.span())));
  Unlocked u{nh->header, std::move(nh->dek), 0, 0};
  Result<Connection> c = open_unlocked(path, std::move(u), OpenOptions{}, false, true, vfs_name);
  if (!c.ok()) {
    remove_store_files(path);
    return c.error();
  }
  return c;
}

}  // namespace

Result<Connection> open_store(const std::string& path, const Secret& secret,
                              const OpenOptions& options, bool exclusive) {
  return open_store_on(path, secret, options, exclusive, vfs::kVfsName);
}

Result<StagedStore> create_staged_store(const std::string& path, const SlotSpec& first,
                                        const Secret& secret) {
  Result<NewHeader> nh = new_store_header(path, first, secret);
  if (!nh.ok()) return nh.error();
  std::string prefix = temp_prefix(path);
  std::vector<std::string> stale = detail::remove_stale_temps(prefix, {"-journal", "-wal", "-shm"});
  Result<detail::LockedTemp> temp = detail::create_locked_temp(prefix, path, 0600);
  if (!temp.ok()) {
    // "cannot create PATH: WHY" in the form of the store's other errors.
    const std::string& m = temp.error().message();
    const std::string lead = "cannot create " + path + ": ";
    if (m.rfind(lead, 0) == 0) return Error(temp.error().code(), path + ": cannot create: " + m.substr(lead.size()));
    return temp.error();
  }
  const std::string tmp = temp->path();
  int rc = vfs::write_header_at(tmp, both_copies(nh->header, nh->dek.span()));
  if (rc != SQLITE_OK) {
    remove_store_files(tmp);
    return sqlite_error(nullptr, rc, path + ": cannot write the header");
  }
  Unlocked u{nh->header, std::move(nh->dek), 0, 0};
  Result<Connection> c = open_unlocked(tmp, std::move(u), OpenOptions{}, false, true, vfs::kVfsName);
  if (!c.ok()) {
    remove_store_files(tmp);
    // Its errors name the temporary: name the database instead.
    const std::string& m = c.error().message();
    if (m.rfind(tmp, 0) == 0) return Error(c.error().code(), path + m.substr(tmp.size()));
    return c.error();
  }
  return StagedStore{std::move(c).value(), std::move(temp).value(), path, std::move(stale)};
}

Result<Connection> publish_store(StagedStore staged) {
  const std::string tmp = staged.conn.path();
  const std::string& path = staged.path;
  Header header;
  header.file_id = staged.conn.key_context().file_id();
  crypto::SecureBytes dek = crypto::SecureBytes::copy_of(staged.conn.dek());
  const int slot = staged.conn.opened_slot();
  // Everything into the file: the WAL is "<temporary>-wal", which the
  // rename does not move. Emptied, the close removes it (close_connection
  // keeps only a WAL that holds frames).
  Status emptied = staged.conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  { Connection closing = std::move(staged.conn); }
  if (!emptied.ok()) {
    remove_store_files(tmp);
    return Error(emptied.error().code(), path + ": cannot create: " + emptied.error().message());
  }
  if (path_exists(tmp + "-wal")) {
    remove_store_files(tmp);
    return Error::io_error(path + ": cannot create: the new database could not be checkpointed");
  }
  if (Status moved = move_into_place(tmp, path); !moved.ok()) {
    remove_store_files(tmp);
    return moved.error();
  }
  sync_parent_dir(path);
  staged.temp.close();
  return open_unlocked(path, Unlocked{std::move(header), std::move(dek), 0, slot}, OpenOptions{}, false,
                       false, vfs::kVfsName);
}

Result<Connection> create_store(const std::string& path, const SlotSpec& first,
                                const Secret& secret) {
  Result<StagedStore> staged = create_staged_store(path, first, secret);
  if (!staged.ok()) return staged.error();
  return publish_store(std::move(staged).value());
}

Result<Connection> open_store_for_testing(const std::string& path, const Secret& secret,
                                          const OpenOptions& options, const char* vfs_name) {
  return open_store_on(path, secret, options, false, vfs_name);
}

Result<Connection> create_store_for_testing(const std::string& path, const SlotSpec& first,
                                            const Secret& secret, const char* vfs_name) {
  return create_store_on(path, first, secret, vfs_name);
}

// --- 5. key-slot changes -------------------------------------------------------------

namespace {

// Runs `fn` inside BEGIN IMMEDIATE.
template <typename Fn>
auto with_write_lock(Connection& c, Fn fn) -> decltype(fn()) {
  if (Status s = c.exec("BEGIN IMMEDIATE"); !s.ok()) {
    if (s.error().is(ErrorCode::kBusy)) {
      return Error::busy(c.path() + ": database is busy");
    }
    return s.error();
  }
  auto result = fn();
  if (Status s = c.exec(result.ok() ? "COMMIT" : "ROLLBACK"); !s.ok() && result.ok()) {
    return s.error();
  }
  return result;
}

struct CurrentHeader {
  Header header;
  int copy = 0;  // the authentic copy chosen
};

Result<CurrentHeader> read_current(Connection& c) {
  sqlite3_file* real = vfs::underlying_main_file(c.handle());
  if (real == nullptr) return Error::internal("not an ehrcrypt connection");
  HeaderBytes bytes{};
  int rc = vfs::read_header(real, bytes);
  if (rc != SQLITE_OK) return sqlite_error(nullptr, rc, c.path() + ": cannot read the header");
  int copy = 0;
  std::optional<DecodedCopy> d = find_authentic_copy(
      bytes, c.key_context().file_id(), c.key_context().hdr_key(), &copy);
  if (!d) return Error::corruption(c.path() + ": header authentication failed");
  return CurrentHeader{std::move(d->header), copy};
}

// Writes `next` as generation current+1 (inactive copy first, then mirror).
Status write_generation(Connection& c, const CurrentHeader& cur, Header next) {
  next.generation = cur.header.generation + 1;
  CopyBytes copy = encode_copy(next, c.key_context().hdr_key());
  sqlite3_file* real = vfs::underlying_main_file(c.handle());
  int rc = vfs::write_header_update(real, 1 - cur.copy, copy);
  if (rc != SQLITE_OK) {
    return sqlite_error(nullptr, rc, c.path() + ": cannot write the header");
  }
  return {};
}

// write_generation, but a failed write changes nothing. The new copy is
// written and synced before the old one is overwritten, so a failure at
// that sync or at the mirror can leave the new generation in force (the
// newest authentic copy wins) while the caller is told it failed; a
// change reported as failed that took effect is a slot no audit entry
// records. So after a failure the header is read again and, when the new
// generation landed, `cur`'s slots are written back over it.
Status commit_header(Connection& c, const CurrentHeader& cur, Header next) {
  Status st = write_generation(c, cur, std::move(next));
  if (st.ok()) return st;
  Result<CurrentHeader> now = read_current(c);
  if (now.ok() && now->header.generation == cur.header.generation) return st;  // never landed
  if (now.ok() && write_generation(c, *now, cur.header).ok()) return st;
  return Error(st.error().code(),
               st.error().message() + "; the key slot change may have taken effect (see ehr key list)");
}

// The header changes below, for a caller that holds the write lock.
Result<SlotChange> remove_slot_locked(Connection& c, int index) {
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  if (index < 0 || index >= static_cast<int>(kSlotCount) ||
      !cur->header.slots[index].active) {
    return Error::not_found(fmt::format("no key slot {}", index));
  }
  if (active_slot_count(cur->header) == 1) {
    return Error::conflict("cannot remove the last key slot");
  }
  SlotChange change{index, cur->header.slots[index], Slot{}, c.opened_slot() == index};
  Header next = cur->header;
  next.slots[index] = change.after;
  EHR_TRY(commit_header(c, *cur, std::move(next)));
  if (change.opened_this_store) c.set_opened_slot(-1);
  return change;
}

Result<SlotChange> change_secret_locked(Connection& c, const Secret& new_secret,
                                        const KdfParams& kdf) {
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  int index = c.opened_slot();
  if (index < 0 || !cur->header.slots[index].active) {
    return Error::conflict("the slot that opened this store no longer exists");
  }
  const Slot& old = cur->header.slots[index];
  Result<Slot> slot = make_slot(cur->header, index, {old.user, old.label, kdf},
                                new_secret, c.dek());
  if (!slot.ok()) return slot.error();
  SlotChange change{index, old, std::move(slot).value(), true};
  Header next = cur->header;
  next.slots[index] = change.after;
  EHR_TRY(commit_header(c, *cur, std::move(next)));
  return change;
}

// Refuses unless `c` is inside a write transaction (BEGIN IMMEDIATE, or
// one that has written): the header change must be serialised with the
// other writers as with_write_lock would.
Status require_write_transaction(Connection& c) {
  if (sqlite3_txn_state(c.handle(), "main") != SQLITE_TXN_WRITE) {
    return Error::internal("a key slot change in a transaction needs the write lock (BEGIN IMMEDIATE)");
  }
  return {};
}

}  // namespace

Result<Header> current_header(Connection& c) {
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  return std::move(cur->header);
}

namespace {

Result<SlotChange> add_slot_locked(Connection& c, const SlotSpec& spec, const Secret& secret) {
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  std::optional<std::size_t> index = free_slot(cur->header);
  if (!index) return Error::conflict("all 8 key slots are in use");
  Result<Slot> slot = make_slot(cur->header, *index, spec, secret, c.dek());
  if (!slot.ok()) return slot.error();
  SlotChange change{static_cast<int>(*index), cur->header.slots[*index], std::move(slot).value(), false};
  Header next = cur->header;
  next.slots[*index] = change.after;
  EHR_TRY(commit_header(c, *cur, std::move(next)));
  return change;
}

}  // namespace

Result<int> add_slot(Connection& c, const SlotSpec& spec, const Secret& secret) {
  return with_write_lock(c, [&]() -> Result<int> {
    Result<SlotChange> change = add_slot_locked(c, spec, secret);
    if (!change.ok()) return change.error();
    return change->index;
  });
}

Result<SlotChange> add_slot_in_transaction(Connection& c, const SlotSpec& spec, const Secret& secret) {
  EHR_TRY(require_write_transaction(c));
  return add_slot_locked(c, spec, secret);
}

Status remove_slot(Connection& c, int index) {
  return with_write_lock(c, [&]() -> Status {
    Result<SlotChange> change = remove_slot_locked(c, index);
    if (!change.ok()) return change.error();
    return {};
  });
}

Status change_secret(Connection& c, const Secret& new_secret, const KdfParams& kdf) {
  return with_write_lock(c, [&]() -> Status {
    Result<SlotChange> change = change_secret_locked(c, new_secret, kdf);
    if (!change.ok()) return change.error();
    return {};
  });
}

Result<SlotChange> remove_slot_in_transaction(Connection& c, int index) {
  EHR_TRY(require_write_transaction(c));
  return remove_slot_locked(c, index);
}

Result<SlotChange> change_secret_in_transaction(Connection& c, const Secret& new_secret,
                                                const KdfParams& kdf) {
  EHR_TRY(require_write_transaction(c));
  return change_secret_locked(c, new_secret, kdf);
}

Status undo_slot_change(Connection& c, const SlotChange& change) {
  return with_write_lock(c, [&]() -> Status {
    Result<CurrentHeader> cur = read_current(c);
    if (!cur.ok()) return cur.error();
    const Slot& now = cur->header.slots[change.index];
    if (now == change.before) return {};  // never landed, or already put back
    if (now != change.after) {
      // Another connection changed the slot since: theirs stands.
      return Error::conflict(fmt::format("key slot {} was changed meanwhile", change.index));
    }
    Header next = cur->header;
    next.slots[change.index] = change.before;
    EHR_TRY(commit_header(c, *cur, std::move(next)));
    if (change.opened_this_store) c.set_opened_slot(change.index);
    return {};
  });
}

// --- 6. list, info, check, backup, rotate ------------------------------------------

Result<std::vector<SlotInfo>> list_slots(Connection& c) {
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  std::vector<SlotInfo> out;
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    const Slot& s = cur->header.slots[i];
    if (!s.active) continue;
    out.push_back(SlotInfo{static_cast<int>(i), s.type, s.user, s.label,
                           s.kdf_params, static_cast<int>(i) == c.opened_slot()});
  }
  return out;
}

Result<StoreInfo> store_info(Connection& c) {
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  Result<std::vector<SlotInfo>> slots = list_slots(c);
  if (!slots.ok()) return slots.error();
  Result<std::string> pages = c.query_text("PRAGMA page_count");
  if (!pages.ok()) return pages.error();
  StoreInfo info;
  info.format_version = kFormat;
  info.page_size = kPageSize;
  info.reserve = kReserve;
  info.cipher = "xchacha20-poly1305";
  info.generation = cur->header.generation;
  for (std::uint8_t b : cur->header.file_id) info.file_id += fmt::format("{:02x}", b);
  struct stat st {};
  if (::stat(c.path().c_str(), &st) == 0) info.file_size = static_cast<std::uint64_t>(st.st_size);
  info.page_count = std::stoull(*pages);
  Result<std::string> user_version = c.query_text("PRAGMA user_version");
  if (!user_version.ok()) return user_version.error();
  info.schema_version = std::stoll(*user_version);
  info.slots = std::move(slots).value();
  return info;
}

Result<CheckReport> check_store(Connection& c) {
  CheckReport report;
  // Block writers (and so checkpoints of new commits) while pages are read.
  Status locked = with_write_lock(c, [&]() -> Status {
    // The header: both copies, each on its own.
    sqlite3_file* real = vfs::underlying_main_file(c.handle());
    HeaderBytes bytes{};
    int rc = vfs::read_header(real, bytes);
    if (rc != SQLITE_OK) return sqlite_error(nullptr, rc, c.path() + ": cannot read the header");
    for (int i = 0; i < 2; ++i) {
      const char* name = i == 0 ? "A" : "B";
      Result<DecodedCopy> d = decode_copy(crypto::Bytes(bytes).subspan(i * kCopySize, kCopySize));
      if (!d.ok()) {
        report.problems.push_back(fmt::format("header copy {}: {}", name, d.error().message()));
      } else if (d->header.file_id != c.key_context().file_id() ||
                 !verify_mac(*d, c.key_context().hdr_key())) {
        report.problems.push_back(fmt::format("header copy {}: authentication failed", name));
      }
    }
    // The WAL: every frame of the live log (SQLite reads pages from there
    // first). A frame failing here would be IOERR_DATA on read; a damaged
    // frame past the log's end is a torn tail and not read at all.
    Result<std::string> mode = c.query_text("PRAGMA main.locking_mode");
    if (!mode.ok()) return mode.error();
    vfs::WalCheck wal;
    rc = vfs::check_wal(c.handle(), *mode == "exclusive", wal);
    if (rc != SQLITE_OK) {
      return sqlite_error(nullptr, rc, c.path() + ": cannot read the WAL");
    }
    report.wal_frames_checked = wal.frames_checked;
    for (std::uint32_t k : wal.bad_frames) {
      report.problems.push_back(fmt::format("wal frame {} fails authentication", k));
    }
    // Every page of the main file. A page whose current version is a WAL
    // frame not yet checkpointed is never read from the file, and the next
    // checkpoint rewrites it: a power loss during a checkpoint can leave it
    // torn, which is not a problem.
    std::int64_t n = vfs::db_file_pages(c.handle());
    for (std::int64_t pg = 1; pg <= n; ++pg) {
      auto pgno = static_cast<std::uint32_t>(pg);
      if (pgno == vfs::kLockBytePage) continue;
      int prc = vfs::verify_db_page(c.handle(), pgno);
      ++report.pages_checked;
      if (prc == SQLITE_OK) continue;
      if (prc == SQLITE_IOERR_DATA) {
        c.key_context().take_failure();
        if (wal.wal_pages.count(pgno) != 0) continue;
        if (!report.first_bad_page) report.first_bad_page = pgno;
        report.problems.push_back(fmt::format("page {} fails authentication", pgno));
      } else {
        return sqlite_error(nullptr, prc, fmt::format("{}: cannot read page {}", c.path(), pgno));
      }
    }
    return {};
  });
  if (!locked.ok()) return locked.error();

  // The logical content, through the WAL.
  Result<Statement> st = c.prepare("PRAGMA integrity_check");
  if (!st.ok()) return st.error();
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) {
      report.problems.push_back("integrity_check stopped: " + row.error().message());
      break;
    }
    if (!*row) break;
    std::string line = st->column_text(0);
    if (line != "ok") report.problems.push_back("integrity_check: " + line);
  }
  return report;
}

namespace {

std::string sql_quote(std::string_view s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += "''";
    else out.push_back(ch);
  }
  return out + "'";
}

// VACUUM INTO `target` (already holding its header) under key `handle`.
Status vacuum_into(Connection& c, const std::string& target,
                   const std::string& handle) {
  EHR_TRY(c.exec("VACUUM INTO " + sql_quote(make_uri(target, handle))));
  // VACUUM INTO writes its target with synchronous=OFF.
  int rc = vfs::sync_path(target);
  if (rc != SQLITE_OK) return sqlite_error(nullptr, rc, target + ": cannot sync");
  sync_parent_dir(target);
  return {};
}

// Progress handler of a long statement that can be cancelled (a backup's or
// a rotation's copy and check): nonzero, so that SQLite stops with
// SQLITE_INTERRUPT, once the caller's `cancelled` says so.
extern "C" int cancel_progress(void* arg) {
  const auto* cancelled = static_cast<const std::function<bool()>*>(arg);
  return (*cancelled)() ? 1 : 0;
}

// Polls `cancelled` during `db`'s statements until the handler is cleared
// (sqlite3_progress_handler(db, 0, ...)); nothing when it is empty.
void poll_cancelled(sqlite3* db, const std::function<bool()>& cancelled) {
  if (cancelled)
    sqlite3_progress_handler(db, 1000, cancel_progress, const_cast<std::function<bool()>*>(&cancelled));
}

}  // namespace

Status backup_store(Connection& c, const std::string& target, const std::function<bool()>& cancelled,
                    std::vector<std::string>* removed_stale) {
  if (path_exists(target)) return Error::already_exists(target + ": already exists");
  std::string prefix = temp_prefix(target);
  std::vector<std::string> stale = detail::remove_stale_temps(prefix, {"-journal", "-wal", "-shm"});
  if (removed_stale != nullptr) *removed_stale = std::move(stale);
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  // Held until the copy is in place, so that no other run takes the
  // temporary for a killed backup's.
  Result<detail::LockedTemp> tmp = detail::create_locked_temp(prefix, target, 0600);
  if (!tmp.ok()) return tmp.error();
  const std::string& name = tmp->path();
  // Same header, same DEK and file_id: the backup opens with the same secrets.
  int rc = vfs::write_header_at(name, both_copies(cur->header, c.dek()));
  Status s = rc == SQLITE_OK ? Status{} : sqlite_error(nullptr, rc, target + ": cannot write the header");
  if (s.ok()) {
    poll_cancelled(c.handle(), cancelled);
    s = vacuum_into(c, name, c.key_handle());
    if (cancelled) sqlite3_progress_handler(c.handle(), 0, nullptr, nullptr);
    if (!s.ok()) {
      // The copy's errors name the temporary or the statement: name the
      // backup instead.
      const std::string& m = s.error().message();
      if (s.error().is(ErrorCode::kInterrupted)) {
        s = Error::interrupted(target + ": backup interrupted; nothing was written");
      } else if (m.find("the disk is full") != std::string::npos ||
                 m.find("database or disk is full") != std::string::npos) {
        s = Error::io_error(target + ": the disk is full");
      } else if (m.rfind(name, 0) == 0) {
        s = Error(s.error().code(), target + m.substr(name.size()));
      } else {
        s = Error(s.error().code(), target + ": " + m);
      }
    }
  }
  if (s.ok()) s = move_into_place(name, target);
  if (!s.ok()) {
    remove_store_files(name);
    return s;
  }
  sync_parent_dir(target);
  return {};
}

namespace {

constexpr std::string_view kRotateInfix = ".rotate-";
constexpr std::size_t kRotateHexDigits = 16;

// Whether `name` is "<base>.rotate-<16 hex digits>" or one of its SQLite
// side files (-wal, -shm, -journal); `main` says which.
bool is_rotation_file(std::string_view name, std::string_view base, bool* main) {
  if (!name.starts_with(base)) return false;
  name.remove_prefix(base.size());
  if (!name.starts_with(kRotateInfix)) return false;
  name.remove_prefix(kRotateInfix.size());
  if (name.size() < kRotateHexDigits) return false;
  for (char ch : name.substr(0, kRotateHexDigits)) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  name.remove_prefix(kRotateHexDigits);
  *main = name.empty();
  return name.empty() || name == "-wal" || name == "-shm" || name == "-journal";
}

struct RotationFile {
  std::string path;
  bool main = false;  // the copy itself, not one of its side files
};

// The rotation files beside `path`, main files first in each group, by name.
std::vector<RotationFile> rotation_files(const std::string& path) {
  std::filesystem::path p(path);
  std::string base = p.filename().string();
  std::filesystem::path dir = p.parent_path();
  std::error_code ec;
  std::vector<RotationFile> out;
  for (std::filesystem::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    bool main = false;
    if (!is_rotation_file(name, base, &main)) continue;
    out.push_back({(dir / name).string(), main});
  }
  std::sort(out.begin(), out.end(), [](const RotationFile& a, const RotationFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace

std::vector<std::string> rotation_leftovers(const std::string& path) {
  std::vector<std::string> out;
  for (const RotationFile& f : rotation_files(path))
    if (f.main) out.push_back(f.path);
  return out;
}

Result<RotateReport> rotate_key(const std::string& path, const Secret& secret,
                                const OpenOptions& options,
                                const std::function<bool()>& cancelled) {
  auto is_cancelled = [&] { return cancelled && cancelled(); };
  const Error interrupted =
      Error::interrupted(path + ": rotate-key interrupted; the database is unchanged");
  if (is_cancelled()) return interrupted;
  Result<Connection> opened = open_store(path, secret, options, /*exclusive=*/true);
  if (!opened.ok()) return opened.error();
  Connection& c = *opened;
  Result<CurrentHeader> cur = read_current(c);
  if (!cur.ok()) return cur.error();
  Result<NewHeader> rot = rotated_header(cur->header);
  if (!rot.ok()) return rot.error();

  // Copies a rotation killed before its rename left (SIGKILL, a power cut):
  // complete ones open with the key slots of their time. This connection
  // holds the EXCLUSIVE lock, which every rotation holds from before it
  // creates its copy until after the rename, so none of them is running.
  RotateReport report;
  for (const RotationFile& f : rotation_files(path)) {
    if (f.main) report.removed_stale.push_back(f.path);
    ::unlink(f.path.c_str());
  }
  if (!report.removed_stale.empty()) sync_parent_dir(path);

  std::array<std::uint8_t, kRotateHexDigits / 2> rnd{};
  crypto::random_bytes(rnd);
  std::string tmp = path + std::string(kRotateInfix);
  for (std::uint8_t b : rnd) tmp += fmt::format("{:02x}", b);
  EHR_TRY(create_header_file(tmp, both_copies(rot->header, rot->dek.span())));
  auto fail = [&](Error e) -> Error {
    remove_store_files(tmp);
    sync_parent_dir(tmp);
    return is_cancelled() ? interrupted : e;
  };

  auto ctx = std::make_shared<vfs::KeyContext>(rot->header.file_id, rot->dek.span());
  std::string handle = vfs::register_key(ctx);
  poll_cancelled(c.handle(), cancelled);
  Status s = vacuum_into(c, tmp, handle);
  sqlite3_progress_handler(c.handle(), 0, nullptr, nullptr);
  vfs::unregister_key(handle);
  if (!s.ok()) return fail(s.error());
  // Verify the copy the way a user will open it: with the secret.
  bool verified = false;
  {
    Result<Connection> copy = open_store(tmp, secret, options);
    if (copy.ok()) {
      poll_cancelled(copy->handle(), cancelled);
      Result<CheckReport> checked = check_store(*copy);
      verified = checked.ok() && checked->ok();
    }
  }
  if (is_cancelled()) return fail(interrupted);
  if (!verified) {
    return fail(Error::corruption(path + ": the rotated copy failed verification; "
                                  "the old file is unchanged"));
  }
  // Empty the old WAL and keep it on close: after the rename, "<path>-wal"
  // names the new database's WAL, which this connection must not delete.
  if (Status t = c.exec("PRAGMA wal_checkpoint(TRUNCATE)"); !t.ok()) return fail(t.error());
  int persist = 1;
  sqlite3_file_control(c.handle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  // From here on the rotation completes whatever is asked.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    remove_store_files(tmp);
    return Error::io_error(path + ": cannot replace: " + errno_text(e));
  }
  sync_parent_dir(path);
  return report;
}

}  // namespace ehr::store

// --- 7. the public ehr::Store ---------------------------------------------------------

namespace ehr {

struct Store::Impl {
  explicit Impl(store::Connection c) : conn(std::move(c)) {}
  explicit Impl(store::StagedStore st)
      : conn(std::move(st.conn)), temp(std::move(st.temp)), publish_to(std::move(st.path)),
        removed_stale(std::move(st.removed_stale)) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  store::Connection conn;
  detail::LockedTemp temp;  // create_staged: the temporary's lock until publish()
  std::string publish_to;   // create_staged: the path publish() moves it to
  std::vector<std::string> removed_stale;

  // A staged store never published leaves nothing behind.
  ~Impl() {
    if (publish_to.empty()) return;
    std::string tmp = conn.path();
    { store::Connection closing = std::move(conn); }
    if (!tmp.empty()) store::remove_store_files(tmp);
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&& other) noexcept = default;
Store& Store::operator=(Store&& other) noexcept = default;
Store::~Store() = default;

Result<Store> Store::create(const std::string& path, const SlotOptions& first,
                            const Secret& secret) {
  Result<Store> s = create_staged(path, first, secret);
  if (!s.ok()) return s;
  EHR_TRY(s->publish());
  return s;
}

Result<Store> Store::create_staged(const std::string& path, const SlotOptions& first,
                                   const Secret& secret) {
  Result<store::StagedStore> staged = store::create_staged_store(path, first, secret);
  if (!staged.ok()) return staged.error();
  return Store(std::make_unique<Impl>(std::move(staged).value()));
}

Status Store::publish() {
  if (impl_->publish_to.empty()) return {};
  std::string to = std::move(impl_->publish_to);
  impl_->publish_to.clear();
  Result<store::Connection> c =
      store::publish_store(store::StagedStore{std::move(impl_->conn), std::move(impl_->temp), to, {}});
  if (!c.ok()) return c.error();
  impl_->conn = std::move(c).value();
  return {};
}

const std::vector<std::string>& Store::removed_stale() const { return impl_->removed_stale; }

Result<Store> Store::open(const std::string& path, const Secret& secret,
                          const OpenOptions& options) {
  Result<store::Connection> c = store::open_store(path, secret, options);
  if (!c.ok()) return c.error();
  return Store(std::make_unique<Impl>(std::move(c).value()));
}

const std::string& Store::path() const { return impl_->conn.path(); }
Result<StoreInfo> Store::info() { return store::store_info(impl_->conn); }
Result<std::vector<SlotInfo>> Store::list_slots() { return store::list_slots(impl_->conn); }
Result<int> Store::add_slot(const SlotOptions& slot, const Secret& secret) {
  return store::add_slot(impl_->conn, slot, secret);
}
Status Store::remove_slot(int index) { return store::remove_slot(impl_->conn, index); }
Status Store::change_secret(const Secret& new_secret, const KdfParams& kdf) {
  return store::change_secret(impl_->conn, new_secret, kdf);
}
Result<CheckReport> Store::check() { return store::check_store(impl_->conn); }
Status Store::backup(const std::string& target, const std::function<bool()>& cancelled,
                     std::vector<std::string>* removed_stale) {
  return store::backup_store(impl_->conn, target, cancelled, removed_stale);
}

Result<RotateReport> rotate_key(const std::string& path, const Secret& secret,
                                const OpenOptions& options,
                                const std::function<bool()>& cancelled) {
  return store::rotate_key(path, secret, options, cancelled);
}

std::vector<std::string> rotation_leftovers(const std::string& path) {
  return store::rotation_leftovers(path);
}

store::Connection& StoreInternal::connection(Store& s) { return s.impl_->conn; }

}  // namespace ehr
