// T5: the tamper matrix. One bit is flipped per byte class of the header,
// the pages, the WAL and the rollback journal, and each case asserts the
// documented outcome: an exact error, never wrong data. The cases that
// succeed pin the documented limitations (encrypted-store.md §5).

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "ehr/store.h"
#include "sqlite_store.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace ehr {
namespace {

using testing::absolute;
using testing::conn;
using testing::create_test_store;
using testing::exec_ok;
using testing::kAlicePass;
using testing::open_test_store;
using testing::query;
using testing::TempDir;

constexpr std::uint64_t H = 4096;
constexpr std::uint64_t P = 4096;
constexpr std::uint64_t kFrame = 24 + P;

std::uint64_t page_at(std::uint32_t pgno, std::uint64_t within) {
  return H + (pgno - 1) * P + within;
}

std::uint64_t frame_at(std::uint64_t k, std::uint64_t within) {
  return 32 + (k - 1) * kFrame + within;
}

// What opening `path` and reading all of table t gives: "rows=<n>" or
// "<code> <message>" with the store path replaced by "$".
std::string outcome(const std::string& path, const OpenOptions& o = {}) {
  auto scrub = [&](std::string m) {
    for (const std::string& p : {absolute(path), path}) {
      for (std::size_t at; (at = m.find(p)) != std::string::npos;) m.replace(at, p.size(), "$");
    }
    return m;
  };
  auto code = [](ErrorCode c) {
    switch (c) {
      case ErrorCode::kCorruption: return "corruption";
      case ErrorCode::kAuthFailed: return "auth-failed";
      case ErrorCode::kInternal: return "internal";
      default: return "other";
    }
  };
  Result<Store> s = Store::open(path, Secret::passphrase(kAlicePass), o);
  if (!s.ok()) return std::string(code(s.error().code())) + " " + scrub(s.error().message());
  Result<std::string> r = StoreInternal::connection(*s).query_text(
      "SELECT count(*) || ':' || total(length(body)) FROM t");
  if (!r.ok()) return std::string(code(r.error().code())) + " " + scrub(r.error().message());
  return "rows=" + r->substr(0, r->find(':'));
}

// A closed store with 200 rows in table t spread over many pages.
struct Pristine {
  TempDir dir;
  std::string path = dir.file("pristine.ehr");
  std::vector<std::uint8_t> bytes;
  std::uint32_t pages = 0;
  Pristine() {
    {
      Store s = create_test_store(path);
      exec_ok(s, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
      exec_ok(s, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200)"
                 " INSERT INTO t(body) SELECT printf('row %d %.300c', i, 'q') FROM c");
      // Into the db file itself: a closed store keeps a small WAL beside it.
      exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    }
    bytes = testing::read_bytes(path);
    pages = static_cast<std::uint32_t>((bytes.size() - H) / P);
  }
  // A fresh copy named `name` with `tamper` applied.
  template <typename Fn>
  std::string variant(const std::string& name, Fn tamper) {
    std::string p = dir.file(name);
    testing::write_bytes(p, bytes);
    tamper(p);
    return p;
  }
};

void flip_both_copies(const std::string& path, std::uint64_t off, bool fix_sum) {
  for (std::uint64_t copy : {0, 2048}) {
    testing::flip_byte(path, copy + off, 0x02);
    if (fix_sum) {
      std::vector<std::uint8_t> b = testing::read_bytes(path);
      auto sum = crypto::blake2b_256(crypto::Bytes(b.data() + copy, 2016));
      std::memcpy(b.data() + copy + 2016, sum.data(), 32);
      testing::write_bytes(path, b);
    }
  }
}

TEST_SUITE("store_tamper") {

TEST_CASE("header bit flips fail with the documented error") {
  Pristine base;
  REQUIRE(outcome(base.path) == "rows=200");
  struct Case {
    const char* field;
    std::uint64_t offset;
    bool fix_sum;  // an attacker who also recomputes the unkeyed checksum
    std::string expected;
  };
  const Case cases[] = {
      {"magic", 0, false, "corruption $: not an ehr file"},
      {"format", 8, false, "corruption $: damaged header"},
      {"generation", 16, false, "corruption $: damaged header"},
      {"file_id", 24, false, "corruption $: damaged header"},
      {"page size", 40, false, "corruption $: damaged header"},
      {"reserve", 44, false, "corruption $: damaged header"},
      {"slot salt", 128 + 24, false, "corruption $: damaged header"},
      {"wrapped DEK", 128 + 96, false, "corruption $: damaged header"},
      {"hdr_mac", 1984, false, "corruption $: damaged header"},
      {"hdr_sum", 2016, false, "corruption $: damaged header"},
      {"format, sum fixed", 8, true, "corruption $: unsupported format version 3"},
      {"page size, sum fixed", 40, true, "corruption $: unsupported page layout"},
      {"reserve, sum fixed", 44, true, "corruption $: unsupported page layout"},
      {"generation, sum fixed", 16, true, "corruption $: header authentication failed"},
      {"hdr_mac, sum fixed", 1984, true, "corruption $: header authentication failed"},
      {"file_id, sum fixed", 24, true, "auth-failed wrong passphrase or key"},
      {"wrap key, sum fixed", 56, true, "auth-failed wrong passphrase or key"},
      {"slot KDF cost, sum fixed", 128 + 16, true, "auth-failed wrong passphrase or key"},
      {"slot salt, sum fixed", 128 + 24, true, "auth-failed wrong passphrase or key"},
      {"slot nonce, sum fixed", 128 + 72, true, "auth-failed wrong passphrase or key"},
      {"wrapped DEK, sum fixed", 128 + 96, true, "auth-failed wrong passphrase or key"},
      {"slot user, sum fixed", 128 + 144, true, "auth-failed wrong passphrase or key"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.field);
    std::string p = base.variant("h.ehr", [&](const std::string& path) {
      flip_both_copies(path, c.offset, c.fix_sum);
    });
    CHECK(outcome(p) == c.expected);
  }
}

TEST_CASE("a bit flip in one header copy is absorbed by the other copy") {
  Pristine base;
  for (std::uint64_t off : {std::uint64_t{0}, std::uint64_t{16}, std::uint64_t{1000},
                            std::uint64_t{2016}, std::uint64_t{2048 + 24},
                            std::uint64_t{2048 + 1984}}) {
    CAPTURE(off);
    std::string p = base.variant("one.ehr", [&](const std::string& path) {
      testing::flip_byte(path, off);
    });
    CHECK(outcome(p) == "rows=200");
  }
}

TEST_CASE("page bit flips are authentication failures naming the page") {
  Pristine base;
  const std::uint32_t last = base.pages;
  struct Case {
    const char* part;
    std::uint64_t within;
  };
  const Case parts[] = {{"body", 50}, {"body end", 4047}, {"nonce", 4050},
                        {"tag", 4080}, {"trailer", 4090}};
  for (const Case& c : parts) {
    CAPTURE(c.part);
    std::string p1 = base.variant("p1.ehr", [&](const std::string& path) {
      testing::flip_byte(path, page_at(1, c.within));
    });
    CHECK(outcome(p1) == "corruption $: page authentication failed: page 1 of $ (db)");
    std::string pn = base.variant("pn.ehr", [&](const std::string& path) {
      testing::flip_byte(path, page_at(last, c.within));
    });
    CHECK(outcome(pn) == "corruption query failed: page authentication failed: page " +
                             std::to_string(last) + " of $ (db)");
  }
}

TEST_CASE("swapped pages fail") {
  Pristine base;
  std::string p = base.variant("swap.ehr", [&](const std::string& path) {
    std::vector<std::uint8_t> b = testing::read_bytes(path);
    std::swap_ranges(b.begin() + page_at(3, 0), b.begin() + page_at(4, 0), b.begin() + page_at(4, 0));
    testing::write_bytes(path, b);
  });
  std::string got = outcome(p);
  CHECK(got.starts_with("corruption query failed: page authentication failed: page "));
}

TEST_CASE("a page spliced from another ehr file fails") {
  Pristine base;
  Pristine other;  // same schema and content, different DEK and file_id
  std::string p = base.variant("splice.ehr", [&](const std::string& path) {
    std::vector<std::uint8_t> b = testing::read_bytes(path);
    std::memcpy(b.data() + page_at(5, 0), other.bytes.data() + page_at(5, 0), P);
    testing::write_bytes(path, b);
  });
  CHECK(outcome(p) == "corruption query failed: page authentication failed: page 5 of $ (db)");
}

TEST_CASE("a file truncated inside a page fails") {
  Pristine base;
  std::string p = base.variant("trunc.ehr", [&](const std::string& path) {
    std::filesystem::resize_file(path, page_at(base.pages, 2000));
  });
  CHECK(outcome(p) == "corruption query failed: page authentication failed: page " +
                          std::to_string(base.pages) + " of $ (db)");
}

TEST_CASE("documented limitation: an older copy of the whole file opens") {
  Pristine base;
  std::string path = base.variant("live.ehr", [](const std::string&) {});
  {
    Store s = open_test_store(path);
    exec_ok(s, "DELETE FROM t WHERE id > 100");
    exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");  // the change into the db file
  }
  CHECK(outcome(path) == "rows=100");
  testing::write_bytes(path, base.bytes);  // roll the whole file back
  CHECK(outcome(path) == "rows=200");
}

TEST_CASE("documented limitation: an older version of the same page replays") {
  Pristine base;
  std::string path = base.variant("live.ehr", [](const std::string&) {});
  {
    Store s = open_test_store(path);
    exec_ok(s, "UPDATE t SET body = printf('NEW %d %.300c', id, 'q') WHERE id = 200");
    exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");  // the change into the db file
  }
  std::vector<std::uint8_t> now = testing::read_bytes(path);
  REQUIRE(now.size() == base.bytes.size());
  int replayed = 0;
  for (std::uint32_t pg = 2; pg <= base.pages; ++pg) {
    if (std::memcmp(now.data() + page_at(pg, 0), base.bytes.data() + page_at(pg, 0), P) != 0) {
      std::memcpy(now.data() + page_at(pg, 0), base.bytes.data() + page_at(pg, 0), P);
      ++replayed;
    }
  }
  CHECK(replayed == 1);
  testing::write_bytes(path, now);
  Store s = open_test_store(path);
  CHECK(query(s, "SELECT substr(body, 1, 7) FROM t WHERE id = 200") == "row 200");
  CHECK(query(s, "PRAGMA integrity_check") == "ok");
}

// --- WAL ------------------------------------------------------------------------

// A store whose last three transactions are only in its WAL: rows 1-2 are in
// the db file, rows 3-5 in frames. Returns the frame count.
struct HotWal {
  TempDir dir;
  std::string live = dir.file("live.ehr");
  std::vector<std::uint8_t> db, wal;
  std::uint64_t frames = 0;
  HotWal() {
    Store s = create_test_store(live);
    exec_ok(s, "PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);"
               "INSERT INTO t(body) VALUES('one'), ('two');"
               "PRAGMA wal_checkpoint(TRUNCATE);");
    for (int i = 3; i <= 5; ++i) {
      exec_ok(s, "INSERT INTO t(body) VALUES(printf('%.900c', 'w'))");
    }
    db = testing::read_bytes(live);
    wal = testing::read_bytes(live + "-wal");
    frames = (wal.size() - 32) / kFrame;
  }
  template <typename Fn>
  std::string variant(const std::string& name, Fn tamper) {
    std::string p = dir.file(name);
    testing::write_bytes(p, db);
    testing::write_bytes(p + "-wal", wal);
    tamper(p + "-wal");
    return p;
  }
};

TEST_CASE("an untouched hot WAL recovers completely") {
  HotWal hot;
  REQUIRE(hot.frames == 3);
  CHECK(outcome(hot.variant("ok.ehr", [](const std::string&) {})) == "rows=5");
}

struct FramePart {
  const char* part;
  std::uint64_t within;
};
const FramePart kFrameParts[] = {{"pgno", 3},       {"nTruncate", 7},  {"salt-1", 8},
                                 {"salt-2", 12},    {"page body", 24 + 100},
                                 {"nonce", 24 + 4050}, {"tag", 24 + 4080}, {"trailer", 24 + 4090}};

// The recovery rule (sqlite_vfs.cc damage_is_durable): a frame failing
// authentication is an anomaly when a later transaction's frame chains after
// a commit at or after it, i.e. when it was durable under synchronous=FULL.
TEST_CASE("WAL frame bit flips before the last transaction are anomalies that keep the WAL") {
  HotWal hot;
  REQUIRE(hot.frames == 3);
  for (std::uint64_t k : {1, 2}) {
    const std::string expected = "corruption $: wal frame " + std::to_string(k) +
                                 " of $-wal failed authentication; the WAL was kept for recovery";
    for (const FramePart& c : kFrameParts) {
      CAPTURE(k);
      CAPTURE(c.part);
      std::string p = hot.variant("w.ehr", [&](const std::string& wal) {
        testing::flip_byte(wal, frame_at(k, c.within));
      });
      std::vector<std::uint8_t> tampered = testing::read_bytes(p + "-wal");
      CHECK(outcome(p) == expected);
      // The evidence survives the refused open, byte for byte.
      CHECK(testing::read_bytes(p + "-wal") == tampered);
      // `ehr recover` may open it deliberately: data up to the bad frame.
      OpenOptions o;
      o.allow_wal_anomaly = true;
      CHECK(outcome(p, o) == "rows=" + std::to_string(2 + k - 1));
    }
  }
}

TEST_CASE("documented limitation: damage confined to the last transaction is a torn tail") {
  // Indistinguishable from what a power loss leaves: dropped silently, like
  // a truncated WAL.
  HotWal hot;
  const std::uint64_t k = hot.frames;
  for (const FramePart& c : kFrameParts) {
    CAPTURE(c.part);
    std::string p = hot.variant("w.ehr", [&](const std::string& wal) {
      testing::flip_byte(wal, frame_at(k, c.within));
    });
    CHECK(outcome(p) == "rows=4");
  }
}

// Regression: the shim used to flag every salted frame that failed
// authentication during recovery as an anomaly, so a plain power loss that
// tore the last, unacknowledged transaction (frame header written, page not,
// or only part of it) left a store that refused to open until `ehr recover`.
TEST_CASE("a torn last frame, as a power loss leaves it, is dropped silently") {
  HotWal hot;
  const std::uint64_t k = hot.frames;
  // The page cut short after 1000 bytes (the file ends there).
  std::string cut = hot.variant("cut.ehr", [&](const std::string& wal) {
    std::filesystem::resize_file(wal, frame_at(k, 24 + 1000));
  });
  CHECK(outcome(cut) == "rows=4");
  // Header written, page never written (zeros where it belongs).
  std::string lost = hot.variant("lost.ehr", [&](const std::string& wal) {
    std::vector<std::uint8_t> b = testing::read_bytes(wal);
    std::fill(b.begin() + static_cast<std::ptrdiff_t>(frame_at(k, 24)), b.end(), 0);
    testing::write_bytes(wal, b);
  });
  CHECK(outcome(lost) == "rows=4");
  // Two 512-byte sectors of the page hold garbage.
  std::string torn = hot.variant("torn.ehr", [&](const std::string& wal) {
    std::vector<std::uint8_t> b = testing::read_bytes(wal);
    for (std::uint64_t i = 1024; i < 2048; ++i) b[frame_at(k, 24 + i)] = static_cast<std::uint8_t>(i * 7);
    testing::write_bytes(wal, b);
  });
  CHECK(outcome(torn) == "rows=4");
  Store s = open_test_store(torn);
  CHECK(query(s, "PRAGMA ehr_status") == "ok");
  Result<CheckReport> report = s.check();
  REQUIRE(report.ok());
  CHECK(report->ok());
}

TEST_CASE("documented limitation: WAL checksum and header flips truncate silently") {
  HotWal hot;
  const std::uint64_t k = hot.frames;
  // A masked checksum word: SQLite's own check stops the log at frame k.
  std::string cks = hot.variant("c.ehr", [&](const std::string& wal) {
    testing::flip_byte(wal, frame_at(k, 16));
  });
  CHECK(outcome(cks) == "rows=4");
  // The WAL header's salt: no frame matches, the whole WAL is ignored.
  std::string hdr = hot.variant("h.ehr", [&](const std::string& wal) {
    testing::flip_byte(wal, 16);
  });
  CHECK(outcome(hdr) == "rows=2");
  // Truncating the WAL file drops the frames past the cut.
  std::string cut = hot.variant("t.ehr", [&](const std::string& wal) {
    std::filesystem::resize_file(wal, frame_at(k, 0));
  });
  CHECK(outcome(cut) == "rows=4");
}

// The rule's chain check: frames a rolled-back transaction spilled into the
// WAL stay there with the generation's salts and authenticate, but they do
// not continue the checksum chain of the transaction that overwrote their
// start, so they are no evidence that that transaction was followed by
// another one.
TEST_CASE("stale frames of a rolled-back transaction do not make a torn last transaction an anomaly") {
  TempDir dir;
  std::string live = dir.file("live.ehr");
  std::string p = dir.file("stale.ehr");
  std::uint64_t stale_frames = 0;
  {
    Store s = create_test_store(live);
    exec_ok(s, "PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);"
               "INSERT INTO t(body) VALUES('one'), ('two');"
               "PRAGMA wal_checkpoint(TRUNCATE);"
               "PRAGMA cache_size=5;"
               "BEGIN;"
               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200)"
               " INSERT INTO t(body) SELECT printf('%.500c', 'r') FROM c;");
    stale_frames = (std::filesystem::file_size(live + "-wal") - 32) / kFrame;
    exec_ok(s, "ROLLBACK; PRAGMA cache_size=-65536;"
               "INSERT INTO t(body) VALUES('three');");  // overwrites frame 1 on
    testing::write_bytes(p, testing::read_bytes(live));
    testing::write_bytes(p + "-wal", testing::read_bytes(live + "-wal"));
  }
  REQUIRE(stale_frames > 10);
  const std::vector<std::uint8_t> db = testing::read_bytes(p);
  const std::vector<std::uint8_t> wal = testing::read_bytes(p + "-wal");
  REQUIRE((wal.size() - 32) / kFrame == stale_frames);
  CHECK(outcome(p) == "rows=3");
  // Tear the last (and only) committed transaction: its frame 1.
  std::string torn = dir.file("torn.ehr");
  testing::write_bytes(torn, db);
  testing::write_bytes(torn + "-wal", wal);
  testing::flip_byte(torn + "-wal", frame_at(1, 24 + 100));
  CHECK(outcome(torn) == "rows=2");
}

// Regression: the 100-byte header read SQLite makes from the db file before
// it opens the WAL failed with IOERR_DATA when page 1 of the db file was
// torn, although the WAL held a good page 1 (a power loss during a
// checkpoint leaves exactly that), so the store could not be opened.
TEST_CASE("a torn page 1 in the db file is harmless while the WAL holds page 1") {
  TempDir dir;
  std::string live = dir.file("live.ehr");
  std::string p = dir.file("p1.ehr");
  {
    Store s = create_test_store(live);
    exec_ok(s, "PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);"
               "INSERT INTO t(body) VALUES('one'), ('two');"
               "PRAGMA wal_checkpoint(TRUNCATE);"
               "CREATE TABLE u(x);"  // a schema change rewrites page 1
               "INSERT INTO t(body) VALUES('three');");
    testing::write_bytes(p, testing::read_bytes(live));
    testing::write_bytes(p + "-wal", testing::read_bytes(live + "-wal"));
  }
  std::vector<std::uint8_t> wal = testing::read_bytes(p + "-wal");
  bool wal_has_page1 = false;
  for (std::uint64_t k = 1; frame_at(k, kFrame) <= wal.size(); ++k) {
    const std::uint8_t* h = wal.data() + frame_at(k, 0);
    wal_has_page1 |= h[0] == 0 && h[1] == 0 && h[2] == 0 && h[3] == 1;
  }
  REQUIRE(wal_has_page1);
  std::vector<std::uint8_t> db = testing::read_bytes(p);
  for (std::uint64_t i = 512; i < 1024; ++i) testing::flip_byte(p, page_at(1, i), 0x5a);
  CHECK(outcome(p) == "rows=3");
  {
    Store s = open_test_store(p);
    CHECK(query(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'u'") == "1");
    Result<CheckReport> r = s.check();
    REQUIRE(r.ok());
    CHECK(r->ok());  // the db file's page 1 is superseded by the WAL's
    exec_ok(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  }
  // The checkpoint rewrote it.
  {
    Store s = open_test_store(p);
    CHECK(vfs::verify_db_page(conn(s).handle(), 1) == SQLITE_OK);
  }
  // Without the WAL, the torn page 1 is what SQLite must read: an error.
  std::string alone = dir.file("alone.ehr");
  testing::write_bytes(alone, db);
  for (std::uint64_t i = 512; i < 1024; ++i) testing::flip_byte(alone, page_at(1, i), 0x5a);
  CHECK(outcome(alone) == "corruption $: page authentication failed: page 1 of $ (db)");
}

// --- rollback journal -----------------------------------------------------------------

TEST_CASE("a tampered page record in a hot journal fails instead of rolling back garbage") {
  TempDir dir;
  testing::RawDb db = testing::make_raw_db(dir.file("a.ehr"));
  sqlite3* h = testing::open_raw(db);
  REQUIRE(testing::raw_exec(h, "PRAGMA temp_store=MEMORY; PRAGMA cache_size=10; CREATE TABLE t(x);"
                               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c "
                               "WHERE i<300) INSERT INTO t SELECT printf('%.300c', 'b') FROM c;") ==
          SQLITE_OK);
  REQUIRE(testing::raw_exec(h, "BEGIN; UPDATE t SET x = printf('%.300c', 'a');") == SQLITE_OK);
  std::vector<std::uint8_t> journal = testing::read_bytes(db.path + "-journal");
  std::vector<std::uint8_t> file = testing::read_bytes(db.path);
  REQUIRE(testing::raw_exec(h, "ROLLBACK") == SQLITE_OK);
  sqlite3_close(h);
  // The first record follows the 512-byte journal header: pgno(4) | page.
  journal[512 + 4 + 100] ^= 0x01;
  testing::RawDb copy = db;
  copy.path = dir.file("b.ehr");
  testing::write_bytes(copy.path, file);
  testing::write_bytes(copy.path + "-journal", journal);
  sqlite3* h2 = testing::open_raw(copy);
  CHECK(testing::raw_exec(h2, "SELECT count(*) FROM t") == SQLITE_IOERR_DATA);
  sqlite3_close(h2);
  CHECK(testing::file_exists(copy.path + "-journal"));  // not played, not deleted
}

}  // TEST_SUITE

}  // namespace
}  // namespace ehr
