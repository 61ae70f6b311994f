/* cfrac-like: many small, short-lived blocks in one thread, from a program
 * that really computes: arbitrary-precision arithmetic in heap-allocated
 * limb arrays.  For every m up to n it computes m! by repeated
 * multiplication, checks its number of decimal digits against the closed
 * form (lgamma), then divides it back down by every k <= m (each step
 * allocating a new number) and checks the result is exactly 1.
 *
 *   bignum [n] [rounds]                                                  */
#include <math.h>

#include "common.h"

typedef struct big {
    size_t n;          /* limbs used */
    uint32_t *limb;    /* little-endian base 2^32 */
} big_t;

static big_t *big_new(size_t cap)
{
    big_t *b = malloc(sizeof *b);
    b->limb = calloc(cap ? cap : 1, sizeof(uint32_t));
    b->n = 0;
    return b;
}

static void big_free(big_t *b)
{
    free(b->limb);
    free(b);
}

static big_t *big_from(uint32_t v)
{
    big_t *b = big_new(1);
    b->limb[0] = v;
    b->n = v ? 1 : 0;
    return b;
}

static big_t *big_mul_small(const big_t *a, uint32_t m)
{
    big_t *r = big_new(a->n + 1);
    uint64_t carry = 0;
    for (size_t i = 0; i < a->n; i++) {
        uint64_t t = (uint64_t)a->limb[i] * m + carry;
        r->limb[i] = (uint32_t)t;
        carry = t >> 32;
    }
    r->n = a->n;
    if (carry)
        r->limb[r->n++] = (uint32_t)carry;
    return r;
}

static big_t *big_div_small(const big_t *a, uint32_t d, uint32_t *rem)
{
    big_t *q = big_new(a->n);
    uint64_t r = 0;
    for (size_t i = a->n; i-- > 0;) {
        uint64_t cur = (r << 32) | a->limb[i];
        q->limb[i] = (uint32_t)(cur / d);
        r = cur % d;
    }
    q->n = a->n;
    while (q->n && q->limb[q->n - 1] == 0)
        q->n--;
    *rem = (uint32_t)r;
    return q;
}

/* Decimal digits, the slow way: divide by 10^9 repeatedly (more garbage). */
static size_t big_digits(const big_t *a)
{
    big_t *cur = big_new(a->n);
    memcpy(cur->limb, a->limb, a->n * sizeof(uint32_t));
    cur->n = a->n;
    size_t digits = 0;
    while (cur->n) {
        uint32_t rem;
        big_t *q = big_div_small(cur, 1000000000u, &rem);
        big_free(cur);
        cur = q;
        if (cur->n) {
            digits += 9;
        } else {
            while (rem) {
                digits++;
                rem /= 10;
            }
        }
    }
    big_free(cur);
    return digits;
}

int main(int argc, char **argv)
{
    long top = arg_long(argc, argv, 1, 300);
    long rounds = arg_long(argc, argv, 2, 80);
    double t0 = seconds();
    size_t digits = 0, total_digits = 0;
    for (long round = 0; round < rounds; round++)
    for (long n = 2; n <= top; n++) {
        big_t *f = big_from(1);
        for (long k = 2; k <= n; k++) {
            big_t *next = big_mul_small(f, (uint32_t)k);
            big_free(f);
            f = next;
        }
        digits = big_digits(f);
        total_digits += digits;
        size_t expect = (size_t)floor(lgamma((double)n + 1) / log(10.0)) + 1;
        if (digits != expect)
            fail("digits of n!");
        for (long k = n; k >= 2; k--) {
            uint32_t rem;
            big_t *q = big_div_small(f, (uint32_t)k, &rem);
            if (rem != 0)
                fail("n! not divisible");
            big_free(f);
            f = q;
        }
        if (f->n != 1 || f->limb[0] != 1)
            fail("n!/n!/... != 1");
        big_free(f);
    }
    printf("result bignum %.3f digits=%zu\n", seconds() - t0, total_digits);
    return 0;
}
