// This machine's ceilings, for bench/floors.py: the multiply-add rate of one core (GFLOP/s,
// counting a multiply-add as two) and the rate of reading memory (GB/s), on 1 and 2 threads.
// Built with -march=native, so the vectors are the widest the CPU has.
//
//   peak            prints: threads GFLOP/s GB/s, one line per thread count
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));
enum { CHAINS = 16, ROUNDS = 20000000, THREADS_MAX = 2 };
static const long read_floats = 64L << 20; // 256 MB, far past any cache

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *memory;
static volatile float sink;

// Independent chains of multiply-adds, enough to cover their latency.
static void *multiply_add(void *unused) {
    (void)unused;
    v16 acc[CHAINS], x = {0}, y = {0};
    for (int i = 0; i < 16; i++) x[i] = 1.0f - 1e-7f * i, y[i] = 1e-7f * i;
    for (int c = 0; c < CHAINS; c++) acc[c] = x + (float)c;
    for (long r = 0; r < ROUNDS; r++) {
#pragma GCC unroll 16
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * x + y;
        __asm__ volatile("" : "+x"(x));
    }
    v16 sum = {0};
    for (int c = 0; c < CHAINS; c++) sum += acc[c];
    sink = sum[0];
    return NULL;
}

typedef struct {
    long first, last;
} range;

static void *read_range(void *p) {
    const range *r = p;
    v16 acc[4] = {{0}};
    for (long i = r->first; i < r->last; i += 64) {
        for (int c = 0; c < 4; c++) acc[c] += *(const v16 *)(memory + i + 16 * c);
    }
    sink = (acc[0] + acc[1] + acc[2] + acc[3])[0];
    return NULL;
}

// The best of `tries` runs of `body` on `threads` threads, each given its part of the range.
static double best_seconds(int threads, void *(*body)(void *), int tries) {
    double best = 1e9;
    for (int t = 0; t < tries; t++) {
        pthread_t thread[THREADS_MAX];
        range parts[THREADS_MAX];
        const double start = now();
        for (int i = 0; i < threads; i++) {
            parts[i] = (range){read_floats / threads * i, read_floats / threads * (i + 1)};
            pthread_create(&thread[i], NULL, body, &parts[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(thread[i], NULL);
        const double seconds = now() - start;
        if (seconds < best) best = seconds;
    }
    return best;
}

int main(void) {
    if (posix_memalign((void **)&memory, 1 << 21, sizeof(float) * read_floats)) return 1;
    for (long i = 0; i < read_floats; i++) memory[i] = (float)(i & 7);
    for (int threads = 1; threads <= THREADS_MAX; threads++) {
        const double flops = 2.0 * 16 * CHAINS * ROUNDS * threads;
        const double gflops = flops / best_seconds(threads, multiply_add, 3) / 1e9;
        const double gbytes = sizeof(float) * read_floats / best_seconds(threads, read_range, 10) / 1e9;
        printf("%d %.1f %.1f\n", threads, gflops, gbytes);
    }
    return 0;
}
