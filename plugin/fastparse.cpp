/* Parser of whitespace-separated number columns for pyonsager.columns (loaded with ctypes).

   Plain C++17, linked to nothing but the C++ runtime: no LAMMPS, no Python.  One call parses
   the complete lines of a byte range into a preallocated float64 array; Python reads the file
   in chunks (bounded memory) and may call it from several threads at once on different
   chunks (ctypes releases the GIL; the functions keep no state).

   Grammar (the tokens Python's float() and numpy.loadtxt accept, so that every reader path
   of pyonsager.columns gives the same doubles):
     line    := blank* (field (blank+ field)*)? blank* ('#' anything)? '\n'
     blank   := ' ' | '\t' | '\v' | '\f' | '\r' before '\n'
     field   := sign? (decimal | "inf" | "infinity" | "nan")     (letters in any case)
     sign    := '+' | '-'
     decimal := std::from_chars' general format: digits [. digits] [(e|E) sign? digits]
   Lines with no field (blank, or a comment only) are skipped.  A line with another number
   of fields than ncols, or a token outside the grammar, stops the parse and is reported
   (Python names it; a token this parser refuses but Python's float() accepts, e.g. "1_0",
   sends the chunk to the generic parsers, which decide as they always did).

   Doubles, all correctly rounded (the double nearest to the decimal, as Python's float(),
   numpy and pandas' round-trip parser give): a token of at most 19 digits whose value is
   m * 10^e with m <= 2^53 and |e| <= 22 (every %g number) is one exact IEEE multiply or
   divide (parse_simple, Clinger's fast path); every other token goes to std::from_chars (no
   locale); a value outside the double range (1e400, 1e-400) to strtod_l in the C locale,
   which rounds it to +-inf or +-0 as Python does.  "-nan" keeps its sign bit, as Python
   and numpy do.  On a %g file the fast path parses 1.6x faster than std::from_chars alone
   (libstdc++ 12: 700 vs 450 MB/s per core); tokens with 8 or more digits after the point
   (%.17g) or 16 or more before it go straight to std::from_chars.
*/

#include <cfenv>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <locale.h>
#include <string>
#include <system_error>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "fastparse.cpp reads eight digits at a time assuming a little-endian machine"
#endif

#define FASTPARSE_API extern "C" __attribute__((visibility("default")))

namespace {

// status codes returned by fastparse_columns (mirrored in pyonsager/columns.py)
enum Status : int { OK = 0, BAD_FIELD_COUNT = 1, BAD_TOKEN = 2, FULL = 3 };

// info[] slots filled by fastparse_columns
enum Info : int { ROWS = 0, CONSUMED = 1, BAD_LINE = 2, BAD_OFFSET = 3, BAD_FIELDS = 4 };

// flags of fastparse_columns
enum Flags : int { FROM_CHARS_ONLY = 1 };

// '\r' only as part of a CRLF line end: numpy and Python's text mode end a line at a bare
// '\r', so a bare '\r' is no blank here (the line goes to the generic parsers, which decide)
inline bool is_blank(const char *p, const char *end)
{
  const char c = *p;
  return c == ' ' || c == '\t' || c == '\v' || c == '\f'
      || (c == '\r' && (p + 1 == end || p[1] == '\n'));
}

// a token ends at a blank, the end of the line, a comment or the end of the range
inline bool ends_token(const char *p, const char *end)
{
  return p == end || *p == '\n' || *p == '#' || is_blank(p, end);
}

inline char lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

bool equals_lower(const char *a, const char *b, const char *word)
{
  for (; a < b; ++a, ++word)
    if (*word == '\0' || lower(*a) != *word) return false;
  return *word == '\0';
}

// rare path (values beyond the double range): strtod in the C locale, never the process' one
double strtod_c(const char *a, const char *b)
{
  static locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
  std::string copy(a, b);
  return strtod_l(copy.c_str(), nullptr, c_locale);
}

// 10^0 .. 10^22: every one exactly representable as a double
constexpr double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                            1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

inline bool is_digit(char c)
{
  return static_cast<unsigned char>(c - '0') < 10;
}

/* The common token: [sign] digits [. digits] [e [sign] digits], at most 19 digits, whose
   value is m * 10^e with m <= 2^53 and |e| <= 22 (every %g number, and %.17g ones of
   moderate exponent).  Then m and 10^|e| are exact doubles and one IEEE multiply or divide,
   correctly rounded, gives the correctly rounded value of the decimal (Clinger's fast path,
   which std::from_chars takes first as well: the same double).  Returns false, with p
   unchanged, for anything else; the caller then asks std::from_chars. */
inline bool finish_simple(const char *&p, const char *q, const char *end, bool negative,
                          uint64_t m, int ndigits, int frac, double &value)
{
  if (ndigits == 0 || ndigits > 19) return false;    // no digits, or m may have wrapped
  int e = 0;
  if (q < end && (*q == 'e' || *q == 'E')) {
    ++q;
    const bool eneg = (q < end && *q == '-');
    if (q < end && (*q == '-' || *q == '+')) ++q;
    const char *e0 = q;
    while (q < end && is_digit(*q)) {
      if (e < 100000) e = 10 * e + (*q - '0');
      ++q;
    }
    if (q == e0) return false;
    if (eneg) e = -e;
  }
  if (!ends_token(q, end)) return false;
  e -= frac;
  if (m > (uint64_t(1) << 53) || e < -22 || e > 22) return false;
  double v = double(m);
  v = (e < 0) ? v / POW10[-e] : v * POW10[e];
  value = negative ? -v : v;
  p = q;
  return true;
}

// one digit at a time (near the end of the buffer)
inline bool parse_simple_bytes(const char *&p, const char *end, double &value)
{
  const char *q = p;
  const bool negative = (*q == '-');
  if (*q == '-' || *q == '+') ++q;
  uint64_t m = 0;
  const char *digits = q;
  while (q < end && is_digit(*q)) m = 10 * m + uint64_t(*q++ - '0');
  int ndigits = int(q - digits);
  int frac = 0;
  if (q < end && *q == '.') {
    const char *f = ++q;
    while (q < end && is_digit(*q)) m = 10 * m + uint64_t(*q++ - '0');
    frac = int(q - f);
    ndigits += frac;
  }
  return finish_simple(p, q, end, negative, m, ndigits, frac, value);
}

/* Eight bytes at a time (SWAR, no branch per digit): the bytes minus '0', the length of the
   leading run of digits, and the value of a run of n <= 8 digits.  Little-endian: the first
   byte is the lowest. */
inline uint64_t load8_minus_zero(const char *q)
{
  uint64_t x;
  std::memcpy(&x, q, 8);
  // a borrow runs upwards only from a byte below '0', i.e. past the first non-digit
  return x - 0x3030303030303030ULL;
}

inline int digit_run(uint64_t a)
{
  // high bit of a byte set when the byte is not a digit (>= 10 after subtracting '0')
  const uint64_t nondigit = ((a + 0x7676767676767676ULL) | a) & 0x8080808080808080ULL;
  return nondigit ? __builtin_ctzll(nondigit) >> 3 : 8;
}

inline uint64_t digits_value(uint64_t a, int n)
{
  if (n == 0) return 0;
  a <<= 8 * (8 - n);    // the n digits to the top bytes, zero digits below
  a = a * 10 + (a >> 8);
  a = (((a & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
       + (((a >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
  return a;
}

inline bool parse_simple(const char *&p, const char *end, double &value)
{
  if (end - p < 32) return parse_simple_bytes(p, end, value);
  const char *q = p;
  const bool negative = (*q == '-');
  if (*q == '-' || *q == '+') ++q;
  uint64_t a = load8_minus_zero(q);
  int n1 = digit_run(a);
  uint64_t m = digits_value(a, n1);
  if (n1 == 8) {
    // 8 to 15 integer digits (step counters); longer runs: std::from_chars
    a = load8_minus_zero(q + 8);
    const int more = digit_run(a);
    if (more == 8) return false;
    m = m * uint64_t(POW10[more]) + digits_value(a, more);
    n1 += more;
  }
  q += n1;
  int frac = 0;
  if (*q == '.') {
    ++q;
    a = load8_minus_zero(q);
    frac = digit_run(a);
    if (frac == 8) return false;
    m = m * uint64_t(POW10[frac]) + digits_value(a, frac);
    q += frac;
  }
  return finish_simple(p, q, end, negative, m, n1 + frac, frac, value);
}

/* Parse one token starting at p (not a blank).  On success store the value, advance p past
   the token and return true; else return false with p unchanged. */
bool parse_token(const char *&p, const char *end, double &value)
{
  const char *tok = p;
  const char *q = p;
  if (*q == '+') {
    ++q;
    // from_chars takes no '+', and "+-1" is no number
    if (q == end || *q == '-' || *q == '+') return false;
  }
  const char *body = (*q == '-') ? q + 1 : q;
  if (body == end) return false;
  auto res = std::from_chars(q, end, value, std::chars_format::general);
  if (res.ec == std::errc::invalid_argument) return false;
  if (!ends_token(res.ptr, end)) return false;
  char first = lower(*body);
  if (first == 'i' || first == 'n') {
    // from_chars also takes "nan(chars)", which Python refuses
    if (!equals_lower(body, res.ptr, "inf") && !equals_lower(body, res.ptr, "infinity")
        && !equals_lower(body, res.ptr, "nan"))
      return false;
  }
  if (res.ec == std::errc::result_out_of_range) value = strtod_c(tok, res.ptr);
  p = res.ptr;
  return true;
}

}    // namespace

/* Parse the lines of buf[0, len) into out.

   ncols: fields every data line must have.  colmap[j] (j < ncols): the output column of
   field j, or -1 to parse and check it but not keep it.  The value of field j of data row r
   goes to out[r * row_stride + colmap[j] * col_stride] (row-major: row_stride = width,
   col_stride = 1; one contiguous array per column: row_stride = 1, col_stride = capacity).
   At most max_rows rows are written.  flags & 1: every token through std::from_chars (no
   fast path; for tests, which compare the two).

   info[0] rows written; info[1] bytes consumed (whole lines; all of buf unless stopped);
   when a line is bad: info[2] its 0-based line index in buf (newlines before it), info[3]
   the byte offset where it starts, info[4] the fields counted on it (up to the bad token).

   Returns 0 (all lines parsed), 1 (a line with another number of fields than ncols),
   2 (a token that is not a number), 3 (max_rows reached before the end: call again from
   info[1] with more room), or -1 (bad arguments).  No allocation (except for values beyond
   the double range), no state: safe to call from several threads on disjoint outputs. */
FASTPARSE_API int fastparse_columns(const char *buf, int64_t len, int32_t ncols,
                                    const int32_t *colmap, double *out, int64_t row_stride,
                                    int64_t col_stride, int64_t max_rows, int64_t *info,
                                    int32_t flags)
{
  if (!buf || len < 0 || ncols <= 0 || !colmap || !out || !info || max_rows < 0) return -1;
  // the fast path's multiply/divide rounds as the FPU is set: only to nearest is exact
  const bool simple = !(flags & FROM_CHARS_ONLY) && std::fegetround() == FE_TONEAREST;
  const char *p = buf;
  const char *end = buf + len;
  int64_t row = 0;
  int64_t line = 0;
  for (int k = 0; k < 5; ++k) info[k] = 0;
  auto fail = [&](int status, const char *line_start, int32_t fields) {
    info[ROWS] = row;
    info[CONSUMED] = line_start - buf;
    info[BAD_LINE] = line;
    info[BAD_OFFSET] = line_start - buf;
    info[BAD_FIELDS] = fields;
    return status;
  };

  while (p < end) {
    const char *line_start = p;
    double *dest = out + row * row_stride;
    int32_t field = 0;
    bool full = row >= max_rows;
    for (;;) {
      while (p < end && is_blank(p, end)) ++p;
      if (p == end) break;
      if (*p == '\n') break;
      if (*p == '#') {
        const void *nl = std::memchr(p, '\n', size_t(end - p));
        p = nl ? static_cast<const char *>(nl) : end;
        break;
      }
      if (full) {
        // a data line with no room left: stop before it
        info[ROWS] = row;
        info[CONSUMED] = line_start - buf;
        return FULL;
      }
      double value;
      if (!(simple && parse_simple(p, end, value)) && !parse_token(p, end, value))
        return fail(BAD_TOKEN, line_start, field);
      if (field < ncols) {
        const int32_t c = colmap[field];
        if (c >= 0) dest[c * col_stride] = value;
      }
      ++field;
    }
    if (p < end) ++p;    // the newline
    if (field != 0) {
      if (field != ncols) return fail(BAD_FIELD_COUNT, line_start, field);
      ++row;
    }
    ++line;
  }
  info[ROWS] = row;
  info[CONSUMED] = len;
  return OK;
}

/* Number of newlines in buf[0, len): an upper bound of the data rows there (one more if the
   range does not end with a newline).  memchr scans many bytes per instruction. */
FASTPARSE_API int64_t fastparse_count_lines(const char *buf, int64_t len)
{
  if (!buf || len <= 0) return 0;
  int64_t n = 0;
  const char *p = buf;
  const char *end = buf + len;
  while (p < end) {
    const void *nl = std::memchr(p, '\n', size_t(end - p));
    if (!nl) break;
    ++n;
    p = static_cast<const char *>(nl) + 1;
  }
  return n;
}

/* Interface version, checked by pyonsager.columns: a stale library from an older build is
   refused instead of being called with the wrong arguments. */
FASTPARSE_API int fastparse_version()
{
  return 1;
}
