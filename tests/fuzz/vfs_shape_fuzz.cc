// libFuzzer harness for the shim's I/O shape rules (core/src/sqlite_vfs.h:
// classify_db_write, classify_wal_write, next_wal_read_piece,
// classify_journal_write), fed random sequences of (op, offset, length).
// Each answer is compared with an independent model of encrypted-store.md
// §0.5 (trap on disagreement); ASan and UBSan catch overflows.
//
// Input: records of 14 bytes:
//   [0]      op: 0 db write, 1 WAL write, 2 WAL read, 3 journal write
//   [1]      offset form: bit 7 set = raw 64-bit offset (bytes 2..9),
//            else frame/page-relative: index (bytes 2..5) and delta
//            (int8, byte 6) around a frame (WAL), page (db) or 4-byte
//            record (journal) boundary
//   [10..11] length: bit 15 set = one of the lengths SQLite uses, else
//            the raw value (signed 16 bits)
//   [12..13] the first two bytes written (the journal's pgno comes from a
//            4-byte write: these bytes twice)

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "sqlite_vfs.h"

namespace {

using namespace ehr::vfs;

constexpr std::int64_t P = kPageSize;
constexpr std::int64_t F = kWalFrameSize;  // 4120

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::int64_t get_i64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

// The model: what §0.5 says, written independently of sqlite_vfs.cc.
std::optional<std::uint32_t> model_db(int amt, std::int64_t off) {
  if (amt != P || off < 0 || off % P != 0) return std::nullopt;
  std::int64_t pg = off / P + 1;
  if (pg > 0xFFFFFFFE || pg == 0x40000000 / P + 1) return std::nullopt;
  return static_cast<std::uint32_t>(pg);
}

WalWrite model_wal(int amt, std::int64_t off, std::uint32_t* frame) {
  if (off == 0 && amt == 32) return WalWrite::kHeader;
  if (off < 32) return WalWrite::kRefused;
  std::int64_t q = (off - 32) / F, r = (off - 32) % F;
  if (q + 1 > 0xFFFFFFFFll) return WalWrite::kRefused;
  *frame = static_cast<std::uint32_t>(q + 1);
  if (r == 0 && amt == 24) return WalWrite::kFrameHeader;
  if (r == 24 && amt == P) return WalWrite::kFramePage;
  return WalWrite::kRefused;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int kLengths[] = {4, 8, 12, 16, 24, 28, 32, 100, 512, 4092, 4096, 4100, 4120, 8240};
  JournalWriteState journal;
  // The model's journal state.
  bool m_valid = false;
  std::int64_t m_off = 0;
  int m_amt = 0;
  std::uint32_t m_value = 0;

  for (std::size_t at = 0; at + 14 <= size; at += 14) {
    const std::uint8_t* r = data + at;
    const int op = r[0] & 3;
    std::int64_t off;
    if (r[1] & 0x80) {
      off = get_i64(r + 2);
    } else {
      std::uint32_t index = static_cast<std::uint32_t>(r[2]) | (static_cast<std::uint32_t>(r[3]) << 8) |
                            (static_cast<std::uint32_t>(r[4]) << 16) |
                            (static_cast<std::uint32_t>(r[5]) << 24);
      std::int64_t delta = static_cast<std::int8_t>(r[6]);
      std::int64_t unit = op == 0 ? P : op == 3 ? P + 8 : F;
      std::int64_t base = op == 1 || op == 2 ? 32 : op == 3 ? 512 : 0;
      off = base + static_cast<std::int64_t>(index) * unit + delta;
    }
    std::uint16_t l = static_cast<std::uint16_t>(r[10] | (r[11] << 8));
    int amt = (l & 0x8000) ? kLengths[(l & 0x7fff) % (sizeof(kLengths) / sizeof(kLengths[0]))]
                           : static_cast<std::int16_t>(l);
    std::uint8_t bytes[P] = {};
    bytes[0] = r[12];
    bytes[1] = r[13];
    bytes[2] = r[12];
    bytes[3] = r[13];

    switch (op) {
      case 0: {
        DbWriteShape s = classify_db_write(amt, off);
        std::optional<std::uint32_t> m = model_db(amt, off);
        check((s.refusal == nullptr) == m.has_value());
        if (m) check(s.pgno == *m);
        break;
      }
      case 1: {
        WalWriteShape s = classify_wal_write(amt, off);
        std::uint32_t frame = 0;
        WalWrite m = model_wal(amt, off, &frame);
        check(s.kind == m);
        check((s.kind == WalWrite::kRefused) == (s.refusal != nullptr));
        if (m == WalWrite::kFrameHeader || m == WalWrite::kFramePage) check(s.frame == frame);
        break;
      }
      case 2: {
        if (amt <= 0) break;
        std::int64_t pos = off;
        int left = amt;
        while (left > 0) {
          std::optional<WalReadPiece> p = next_wal_read_piece(pos, left);
          if (!p) {
            check(pos < 0 || (pos - 32) / F + 1 > 0xFFFFFFFFll);
            break;
          }
          check(p->n > 0 && p->n <= left && p->rel >= 0);
          if (p->header) {
            check(pos == p->rel && p->rel + p->n <= 32);
          } else {
            check(p->frame >= 1 && p->rel + p->n <= F);
            check(pos == 32 + (static_cast<std::int64_t>(p->frame) - 1) * F + p->rel);
          }
          pos += p->n;
          left -= p->n;
        }
        break;
      }
      case 3: {
        JournalWriteShape s = classify_journal_write(journal, bytes, amt, off);
        bool m_page = amt == P && m_valid && m_amt == 4 && off >= 4 && m_off == off - 4;
        check(s.page == m_page);
        if (m_page) check(s.pgno == m_value);
        m_valid = true;
        m_off = off;
        m_amt = amt;
        m_value = amt == 4 ? (std::uint32_t{bytes[0]} << 24 | std::uint32_t{bytes[1]} << 16 |
                              std::uint32_t{bytes[2]} << 8 | bytes[3])
                           : 0;
        break;
      }
    }
  }
  return 0;
}
