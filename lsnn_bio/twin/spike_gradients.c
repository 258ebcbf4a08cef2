/* Weight gradients of delayed synapses, driven by the spikes that exist (compiled and loaded by native.py).

   For synapse k from history row pre[k] to current row post[k] with delay d[k]:
       out[k] += sum over s, b of  z[s, pre[k], b] * G[s + d[k], post[k], b]
   where z[s] is the row of spikes pushed at step s (history row s + past) and G[t] is
   d loss / d current at step t. Spikes are about 2 % of the history, so skipping the zeros
   does 50x less work than a product over every (s, b).

   G must be readable (and zero outside 0 <= t < steps) for -past <= t < steps + lags - 1.
   It is read through a ring of its next `lags` steps, transposed to (trial, current): the
   synapses of one spike then read a few rows near each other (read in place, every synapse
   would be another cache line). One call sums the trials [b_first, b_last) into its own
   `out`, so threads split the batch, never what they write. */

#include <stdint.h>

#define BLOCK 16 /* trials checked for spikes at once: one cache line of float32 */
#define TILE 16  /* the transpose's square tiles */

#define DEFINE(NAME, REAL)                                                                             \
    /* slot (nb, n_cat) <- the trials [b_first, b_first + nb) of g (n_cat, batch) */                   \
    static void NAME##_transpose(REAL *slot, const REAL *g, int64_t n_cat, int64_t batch,              \
                                 int64_t b_first, int64_t nb) {                                        \
        for (int64_t j0 = 0; j0 < n_cat; j0 += TILE)                                                   \
            for (int64_t b0 = 0; b0 < nb; b0 += TILE) {                                                \
                int64_t j1 = j0 + TILE < n_cat ? j0 + TILE : n_cat;                                    \
                int64_t b1 = b0 + TILE < nb ? b0 + TILE : nb;                                          \
                for (int64_t b = b0; b < b1; b++)                                                      \
                    for (int64_t j = j0; j < j1; j++) slot[b * n_cat + j] = g[j * batch + b_first + b]; \
            }                                                                                          \
    }                                                                                                  \
                                                                                                       \
    void NAME(const REAL *history, const REAL *grads, int64_t n_sources, int64_t n_cat, int64_t batch, \
              int64_t past, int64_t lags, int64_t b_first, int64_t b_last, int64_t rows,               \
              const int64_t *row_start, const int32_t *post, const int32_t *delay, REAL *ring,         \
              double *out) {                                                                           \
        int64_t plane = n_cat * batch, nb = b_last - b_first, slot_size = nb * n_cat;                  \
        /* ring slot t % lags holds G[t - past] (t = step + past), transposed */                       \
        for (int64_t t = 0; t < rows + lags - 1; t++) {                                                \
            NAME##_transpose(ring + t % lags * slot_size, grads + (t - past) * plane, n_cat, batch,    \
                             b_first, nb);                                                             \
            int64_t row = t - (lags - 1); /* the spikes whose synapses reach at most step t - past */  \
            if (row < 0) continue;                                                                     \
            int64_t base = row % lags;                                                                 \
            const REAL *z = history + row * n_sources * batch;                                         \
            for (int64_t i = 0; i < n_sources; i++) {                                                  \
                int64_t k0 = row_start[i], k1 = row_start[i + 1];                                      \
                if (k0 == k1) continue;                                                                \
                const REAL *zi = z + i * batch;                                                        \
                for (int64_t b0 = b_first; b0 < b_last; b0 += BLOCK) {                                 \
                    int64_t b1 = b0 + BLOCK < b_last ? b0 + BLOCK : b_last;                            \
                    int any = 0;                                                                       \
                    for (int64_t b = b0; b < b1; b++) any |= zi[b] != 0;                               \
                    if (!any) continue;                                                                \
                    for (int64_t b = b0; b < b1; b++) {                                                \
                        double value = (double)zi[b];                                                  \
                        if (value == 0) continue;                                                      \
                        const REAL *column = ring + (b - b_first) * n_cat;                             \
                        for (int64_t k = k0; k < k1; k++) {                                            \
                            int64_t slot = base + delay[k];                                            \
                            if (slot >= lags) slot -= lags;                                            \
                            out[k] += value * (double)column[slot * slot_size + post[k]];              \
                        }                                                                              \
                    }                                                                                  \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
    }

DEFINE(spike_gradients_float, float)
DEFINE(spike_gradients_double, double)
