// Sessions: open store + authenticated user + roles (ehr/session.h).
#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "ehr/session.h"
#include "session_impl.h"

namespace ehr {

namespace {

std::string system_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

std::vector<std::string> split_roles(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(' ', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status load_user(SessionImpl& impl) {
  auto st = impl.statement("SELECT roles, disabled FROM users WHERE name = ?");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, impl.user()));
  auto row = (*st)->step();
  if (!row.ok()) return row.error();
  if (!*row) return {};  // a slot without a user record: no roles
  if ((*st)->column_int(1) != 0)
    return Error::auth_failed(fmt::format("user {} is disabled", impl.user()));
  impl.set_roles(split_roles((*st)->column_text(0)));
  return {};
}

}  // namespace

Result<store::Statement*> SessionImpl::statement(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto st = db().prepare(sql);
    if (!st.ok()) return st.error();
    it = cache_.emplace(sql, std::make_unique<store::Statement>(std::move(*st))).first;
  } else {
    (void)it->second->reset();
  }
  return it->second.get();
}

Status SessionImpl::transaction(const std::function<Status()>& body) {
  EHR_TRY(db().exec("BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = db().exec("COMMIT");
  if (!s.ok()) {
    // Statements left mid-step would keep the transaction open.
    for (auto& [sql, st] : cache_) (void)st->reset();
    (void)db().exec("ROLLBACK");
  }
  return s;
}

std::int64_t current_schema_version();

Session::Session(std::unique_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::open(const std::string& path, const Secret& secret,
                              const SessionOptions& options) {
  OpenOptions open = options.open;
  open.user = options.user;
  auto store = Store::open(path, secret, open);
  if (!store.ok()) return store.error();
  auto impl = std::make_unique<SessionImpl>(std::move(*store), options.user, options.purpose,
                                            options.now ? options.now : system_now);
  EHR_TRY(migrate_schema(impl->db()));
  EHR_TRY(load_user(*impl));
  return Session(std::move(impl));
}

Result<Session> Session::create(const std::string& path, const SlotOptions& admin,
                                const Secret& secret, const SessionOptions& options) {
  auto store = Store::create(path, admin, secret);
  if (!store.ok()) return store.error();
  auto impl = std::make_unique<SessionImpl>(std::move(*store), admin.user, options.purpose,
                                            options.now ? options.now : system_now);
  EHR_TRY(migrate_schema(impl->db()));
  auto st = impl->statement("INSERT INTO users(name, roles, created) VALUES(?, 'admin', ?)");
  if (!st.ok()) return st.error();
  EHR_TRY((*st)->bind_text(1, admin.user));
  EHR_TRY((*st)->bind_text(2, impl->now()));
  auto r = (*st)->step();
  if (!r.ok()) return r.error();
  impl->set_roles({"admin"});
  return Session(std::move(impl));
}

const std::string& Session::user() const { return impl_->user(); }
const std::vector<std::string>& Session::roles() const { return impl_->roles(); }
const std::string& Session::purpose() const { return impl_->purpose(); }
Store& Session::store() { return impl_->store(); }
std::string Session::now() const { return impl_->now(); }

}  // namespace ehr
