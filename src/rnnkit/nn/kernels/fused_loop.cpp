// The time loops of the vanilla RNN, the GRU and the LSTM for the bptt kernel, each step written
// out as plain loops around its products (see fused_loop.py for what each serves, and why).
//
// Shapes: T steps, B batch, H hidden. Every tensor is contiguous, row-major:
//   x_proj / gates (T, B, G*H), h_all (T+1, B, H), w_hh (G*H, H), d_trace (T+1, B, H).
// Gate order follows torch.nn: GRU r, z, n.

#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <vector>

namespace {

// y (B, M) = x (B, K) · wᵀ, w (M, K): y[b, i] = Σ_j w[i, j] x[b, j].
// Four rows of w at a time against every batch row, so each weight row is read once per step.
template <typename T>
void product(const T* __restrict w, const T* __restrict x, T* __restrict y, int64_t batch,
             int64_t rows, int64_t cols, int64_t y_stride) {
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const T* w0 = w + i * cols;
    const T* w1 = w0 + cols;
    const T* w2 = w1 + cols;
    const T* w3 = w2 + cols;
    for (int64_t b = 0; b < batch; ++b) {
      const T* xb = x + b * cols;
      T a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
      for (int64_t j = 0; j < cols; ++j) {
        a0 += w0[j] * xb[j];
        a1 += w1[j] * xb[j];
        a2 += w2[j] * xb[j];
        a3 += w3[j] * xb[j];
      }
      T* yb = y + b * y_stride + i;
      yb[0] = a0;
      yb[1] = a1;
      yb[2] = a2;
      yb[3] = a3;
    }
  }
  for (; i < rows; ++i) {
    const T* wi = w + i * cols;
    for (int64_t b = 0; b < batch; ++b) {
      const T* xb = x + b * cols;
      T a = 0;
#pragma omp simd reduction(+ : a)
      for (int64_t j = 0; j < cols; ++j) a += wi[j] * xb[j];
      y[b * y_stride + i] = a;
    }
  }
}

// y (B, K) += d (B, M) · w, w (M, K): y[b, j] += Σ_i d[b, i] w[i, j].
template <typename T>
void product_add(const T* __restrict w, const T* __restrict d, T* __restrict y, int64_t batch,
                 int64_t rows, int64_t cols, int64_t d_stride) {
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const T* w0 = w + i * cols;
    const T* w1 = w0 + cols;
    const T* w2 = w1 + cols;
    const T* w3 = w2 + cols;
    for (int64_t b = 0; b < batch; ++b) {
      const T* db = d + b * d_stride + i;
      const T d0 = db[0], d1 = db[1], d2 = db[2], d3 = db[3];
      T* yb = y + b * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) yb[j] += w0[j] * d0 + w1[j] * d1 + w2[j] * d2 + w3[j] * d3;
    }
  }
  for (; i < rows; ++i) {
    const T* wi = w + i * cols;
    for (int64_t b = 0; b < batch; ++b) {
      const T di = d[b * d_stride + i];
      T* yb = y + b * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) yb[j] += wi[j] * di;
    }
  }
}

// e^x as 2^n · p(r) with n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts for the
// rounding), p Cephes' degree-7 polynomial for expf (relative error ~1e-7): branch-free, so the
// loops that call it vectorise, unlike a call to std::exp. x is clamped to where 2^n is a normal
// float. float64 keeps std::exp: gradcheck reads its differences to 1e-6 and beyond.
inline float exp_of(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // comparisons, so NaN stays NaN
  float n = std::floor(x * 1.44269504088896341f + 0.5f);
  n = n == n ? n : 0.0f;  // NaN: r and the result stay NaN, and the cast below stays defined
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);  // C++17 (torch < 2.13 builds with it): no bit_cast
  return p * scale;
}

inline double exp_of(double x) { return std::exp(x); }

// σ(x) = 1 / (1 + e^-x)
template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + exp_of(-x));
}

// tanh(x) = 1 - 2 / (e^2x + 1); below |x| = 0.625, where that subtraction would lose the
// leading digits, Cephes' odd polynomial for tanhf instead (both within ~2 ulp). Both sides are
// computed and one is picked, so the loop stays branch-free.
inline float tanh_of(float x) {
  const float by_exp = 1.0f - 2.0f / (exp_of(2.0f * x) + 1.0f);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float by_polynomial = p * z * x + x;
  return std::fabs(x) < 0.625f ? by_polynomial : by_exp;
}

inline double tanh_of(double x) { return std::tanh(x); }

// A buffer the loops write (or a saved one they read back): the caller made it contiguous.
void writable(const torch::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.device().is_cpu() && tensor.is_contiguous(),
              "fused_loop: ", name, " must be a contiguous CPU tensor");
}

// A tensor the loops only read (weights, masks, incoming gradients): made contiguous here, a
// no-op for the usual ones, so callers need not.
torch::Tensor readable(const torch::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.device().is_cpu(), "fused_loop: ", name, " must be a CPU tensor");
  return tensor.contiguous();
}

c10::optional<torch::Tensor> readable(const c10::optional<torch::Tensor>& tensor,
                                      const char* name) {
  if (!tensor.has_value()) return tensor;
  return readable(*tensor, name);
}

// Variable lengths: once t reaches a sequence's length its state stays (h_t = h_{t-1}, and
// c_t = c_{t-1}), and in the backward those steps have d pre = 0 and pass dh (dc) through.
struct Ends {
  torch::Tensor owner;               // (B,) int64, kept alive for `lengths`
  const int64_t* lengths = nullptr;  // none: every sequence runs all T steps
  bool ended(int64_t t, int64_t b) const { return lengths != nullptr && t >= lengths[b]; }
};

Ends ends_of(const c10::optional<torch::Tensor>& lengths) {
  if (!lengths.has_value()) return Ends{};
  torch::Tensor owner = readable(*lengths, "lengths").to(torch::kLong);
  return Ends{owner, owner.data_ptr<int64_t>()};
}

// After forward step t: the rows (n values each) of ended sequences take back their state.
template <typename T>
void keep_ended(const Ends& ends, int64_t t, const T* previous, T* next, int64_t batch,
                int64_t n) {
  for (int64_t b = 0; b < batch && ends.lengths; ++b) {
    if (ends.ended(t, b)) std::copy(previous + b * n, previous + (b + 1) * n, next + b * n);
  }
}

// ---------------------------------------------------------------------------------------------
// RNN: h_t = act(x_proj_t + W_hh h_{t-1}), act = tanh or relu.

template <typename T>
void rnn_forward_typed(const torch::Tensor& x_proj, torch::Tensor& h_all, const torch::Tensor& w_hh,
                       bool relu, const Ends& ends) {
  const int64_t steps = x_proj.size(0), batch = x_proj.size(1), hidden = x_proj.size(2);
  const T* x = x_proj.data_ptr<T>();
  const T* w = w_hh.data_ptr<T>();
  T* h = h_all.data_ptr<T>();
  const int64_t step = batch * hidden;
  for (int64_t t = 0; t < steps; ++t) {
    T* out = h + (t + 1) * step;
    product(w, h + t * step, out, batch, hidden, hidden, hidden);  // W_hh h_{t-1}
    const T* xt = x + t * step;
    if (relu) {
#pragma omp simd
      for (int64_t k = 0; k < step; ++k) {
        const T pre = out[k] + xt[k];
        out[k] = pre < T(0) ? T(0) : pre;  // NaN stays NaN, as in torch.relu
      }
    } else {
#pragma omp simd
      for (int64_t k = 0; k < step; ++k) out[k] = tanh_of(out[k] + xt[k]);
    }
    keep_ended(ends, t, h + t * step, out, batch, hidden);
  }
}

// Fills d_pre (T, B, H) with d(pre-activation) and returns dh_0 (B, H):
//   d pre_t = dh_t ⊙ act'(h_t), dh_{t-1} = d_trace_{t-1} + d pre_t · W_hh.
template <typename T>
void rnn_backward_typed(const torch::Tensor& h_all, const torch::Tensor& w_hh,
                        const torch::Tensor& d_trace, torch::Tensor& d_pre, torch::Tensor& dh,
                        bool relu, const Ends& ends) {
  const int64_t steps = d_pre.size(0), batch = d_pre.size(1), hidden = d_pre.size(2);
  const int64_t step = batch * hidden;
  const T* h = h_all.data_ptr<T>();
  const T* w = w_hh.data_ptr<T>();
  const T* dt = d_trace.data_ptr<T>();
  T* dp = d_pre.data_ptr<T>();
  T* dhp = dh.data_ptr<T>();
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* y = h + (t + 1) * step;
    T* dpt = dp + t * step;
    const T* dtt = dt + t * step;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t row = b * hidden;
      const bool ended = ends.ended(t, b);
      for (int64_t k = row; k < row + hidden; ++k) {
        const T slope = relu ? (y[k] > T(0) ? T(1) : T(0)) : T(1) - y[k] * y[k];
        dpt[k] = ended ? T(0) : dhp[k] * slope;
        dhp[k] = ended ? dtt[k] + dhp[k] : dtt[k];
      }
    }
    product_add(w, dpt, dhp, batch, hidden, hidden, hidden);
  }
}

// ---------------------------------------------------------------------------------------------
// GRU, gates r, z, n (r, z sigmoid; n tanh):
//   reset after (torch's form):  n = tanh(x_n + r ⊙ (W_hn h + b_hn)), recurrent_n = W_hn h + b_hn
//   reset before:                n = tanh(x_n + W_hn (r ⊙ h)),        recurrent_n = r ⊙ h
//   h' = (1 - z) ⊙ n + z ⊙ h = n + z ⊙ (h - n)
// gates holds x_proj on entry and the activated gates on return. recurrent_n is (T, B, H) or,
// when nothing is kept for a backward, (1, B, H) reused every step.

template <typename T>
void gru_forward_typed(torch::Tensor& gates, torch::Tensor& h_all, const torch::Tensor& w_hh,
                       const c10::optional<torch::Tensor>& b_hn, torch::Tensor& recurrent_n,
                       bool reset_after, const Ends& ends) {
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = h_all.size(2);
  const int64_t gate_step = batch * 3 * hidden, step = batch * hidden;
  const int64_t rn_step = recurrent_n.size(0) == 1 ? 0 : step;
  const T* w = w_hh.data_ptr<T>();
  const T* bias = b_hn.has_value() ? b_hn->data_ptr<T>() : nullptr;
  T* g = gates.data_ptr<T>();
  T* h = h_all.data_ptr<T>();
  T* rn = recurrent_n.data_ptr<T>();
  std::vector<T> product_buffer(batch * 3 * hidden);  // (B, 3H) or (B, 2H) + (B, H)
  T* rec = product_buffer.data();
  for (int64_t t = 0; t < steps; ++t) {
    const T* h_prev = h + t * step;
    T* h_next = h + (t + 1) * step;
    T* gt = g + t * gate_step;
    T* rnt = rn + t * rn_step;
    const int64_t rows = reset_after ? 3 * hidden : 2 * hidden;
    product(w, h_prev, rec, batch, rows, hidden, 3 * hidden);  // W_hr h, W_hz h (, W_hn h)
    for (int64_t b = 0; b < batch; ++b) {
      T* gb = gt + b * 3 * hidden;
      const T* rb = rec + b * 3 * hidden;
      const T* hb = h_prev + b * hidden;
      T* rnb = rnt + b * hidden;
#pragma omp simd
      for (int64_t i = 0; i < 2 * hidden; ++i) gb[i] = sigmoid(gb[i] + rb[i]);
      if (reset_after) {
        for (int64_t i = 0; i < hidden; ++i) rnb[i] = rb[2 * hidden + i] + (bias ? bias[i] : T(0));
      } else {
        for (int64_t i = 0; i < hidden; ++i) rnb[i] = gb[i] * hb[i];
      }
    }
    if (!reset_after) {  // W_hn (r ⊙ h) into the n block of the buffer
      product(w + 2 * hidden * hidden, rnt, rec + 2 * hidden, batch, hidden, hidden, 3 * hidden);
    }
    for (int64_t b = 0; b < batch; ++b) {
      T* gb = gt + b * 3 * hidden;
      const T* hb = h_prev + b * hidden;
      const T* rnb = rnt + b * hidden;
      T* nb = rec + b * 3 * hidden + 2 * hidden;  // what n adds to x_n
      if (reset_after) {
        for (int64_t i = 0; i < hidden; ++i) nb[i] = gb[i] * rnb[i];  // r ⊙ (W_hn h + b_hn)
      }
      T* out = h_next + b * hidden;
#pragma omp simd
      for (int64_t i = 0; i < hidden; ++i) {
        const T n = tanh_of(gb[2 * hidden + i] + nb[i]);
        const T z = gb[hidden + i];
        gb[2 * hidden + i] = n;
        out[i] = n + z * (hb[i] - n);
      }
    }
    keep_ended(ends, t, h_prev, h_next, batch, hidden);
  }
}

// Fills d_pre (T, B, 3H) with d(pre-activation) of r, z, n and d_rec_n (T, B, H) with
// d(recurrent_n); returns dh_0 (B, H). With d pre_n = dh ⊙ (1 - z) ⊙ (1 - n²) and
// d pre_z = dh ⊙ (h - n) ⊙ z(1 - z):
//   reset after:  d pre_r = d pre_n ⊙ recurrent_n ⊙ r(1 - r), d_rec_n = d pre_n ⊙ r,
//                 dh_{t-1} = d_trace + z ⊙ dh + [d pre_r, d pre_z, d_rec_n] · W_hh
//   reset before: d(r ⊙ h) = d pre_n · W_hn, d pre_r = d(r ⊙ h) ⊙ h ⊙ r(1 - r), d_rec_n = d pre_n,
//                 dh_{t-1} = d_trace + z ⊙ dh + r ⊙ d(r ⊙ h) + [d pre_r, d pre_z] · W_hrz
template <typename T>
void gru_backward_typed(const torch::Tensor& gates, const torch::Tensor& h_all,
                        const torch::Tensor& recurrent_n, const torch::Tensor& w_hh,
                        const torch::Tensor& d_trace, torch::Tensor& d_pre,
                        torch::Tensor& d_rec_n, torch::Tensor& dh, bool reset_after,
                        const Ends& ends) {
  const int64_t steps = gates.size(0), batch = gates.size(1), hidden = h_all.size(2);
  const int64_t gate_step = batch * 3 * hidden, step = batch * hidden;
  const T* g = gates.data_ptr<T>();
  const T* h = h_all.data_ptr<T>();
  const T* rn = recurrent_n.data_ptr<T>();
  const T* w = w_hh.data_ptr<T>();
  const T* dt = d_trace.data_ptr<T>();
  T* dp = d_pre.data_ptr<T>();
  T* drn = d_rec_n.data_ptr<T>();
  T* dhp = dh.data_ptr<T>();
  std::vector<T> d_rh_buffer(reset_after ? 0 : step);  // (B, H): d(r ⊙ h)
  T* d_rh = d_rh_buffer.data();
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* gt = g + t * gate_step;
    const T* h_prev = h + t * step;
    const T* rnt = rn + t * step;
    const T* dtt = dt + t * step;
    T* dpt = dp + t * gate_step;
    T* drnt = drn + t * step;
    for (int64_t b = 0; b < batch; ++b) {
      const T* r = gt + b * 3 * hidden;
      const T* z = r + hidden;
      const T* n = z + hidden;
      const T* hb = h_prev + b * hidden;
      const T* rnb = rnt + b * hidden;
      const T* dtb = dtt + b * hidden;
      T* dr = dpt + b * 3 * hidden;
      T* dz = dr + hidden;
      T* dn = dz + hidden;
      T* drnb = drnt + b * hidden;
      T* dhb = dhp + b * hidden;
      if (ends.ended(t, b)) {
        std::fill(dr, dr + 3 * hidden, T(0));
        std::fill(drnb, drnb + hidden, T(0));
        for (int64_t i = 0; i < hidden; ++i) dhb[i] += dtb[i];
        continue;
      }
      for (int64_t i = 0; i < hidden; ++i) {
        const T d = dhb[i];
        dn[i] = d * (T(1) - z[i]) * (T(1) - n[i] * n[i]);
        dz[i] = d * (hb[i] - n[i]) * z[i] * (T(1) - z[i]);
        if (reset_after) {
          dr[i] = dn[i] * rnb[i] * r[i] * (T(1) - r[i]);
          drnb[i] = dn[i] * r[i];
        } else {
          drnb[i] = dn[i];
        }
        dhb[i] = dtb[i] + z[i] * d;
      }
    }
    if (reset_after) {
      product_add(w, dpt, dhp, batch, 2 * hidden, hidden, 3 * hidden);
      product_add(w + 2 * hidden * hidden, drnt, dhp, batch, hidden, hidden, hidden);
      continue;
    }
    std::fill(d_rh_buffer.begin(), d_rh_buffer.end(), T(0));
    product_add(w + 2 * hidden * hidden, dpt + 2 * hidden, d_rh, batch, hidden, hidden,
                3 * hidden);
    for (int64_t b = 0; b < batch; ++b) {
      const T* r = gt + b * 3 * hidden;
      const T* hb = h_prev + b * hidden;
      const T* d_rhb = d_rh + b * hidden;
      T* dr = dpt + b * 3 * hidden;
      T* dhb = dhp + b * hidden;
      for (int64_t i = 0; i < hidden; ++i) {
        dr[i] = d_rhb[i] * hb[i] * r[i] * (T(1) - r[i]);
        dhb[i] += r[i] * d_rhb[i];
      }
    }
    product_add(w, dpt, dhp, batch, 2 * hidden, hidden, 3 * hidden);
  }
}

// ---------------------------------------------------------------------------------------------
// LSTM, gates i, f, g, o; products by torch (any batch), everything else element by element:
//   a = W_hh (h ⊙ mask)                           [mask: variational recurrent dropout]
//   pre = x_proj + LN_hh(a) ⊙ gain  (or x_proj + a without layer norm; LN per gate block)
//   i, f, o = σ(pre), g = tanh(pre), c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(LN_c(c') ⊙ w_c + b_c)
// σ is the recurrent activation: 0 sigmoid, 1 hard_sigmoid (relu6(x + 3) / 6), 2
// hard_sigmoid_v2 (clip(0.2 x + 0.5, 0, 1)). Layer-norm statistics are (mean, 1/σ) pairs.

template <typename T>
inline T gate_of(T x, int64_t kind) {
  if (kind == 0) return sigmoid(x);
  const T y = kind == 1 ? (x + T(3)) / T(6) : T(0.2) * x + T(0.5);
  return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
}

template <typename T>
inline T gate_slope(T y, int64_t kind) {  // σ'(x) from y = σ(x)
  if (kind == 0) return y * (T(1) - y);
  const bool inside = y > T(0) && y < T(1);
  return inside ? (kind == 1 ? T(1) / T(6) : T(0.2)) : T(0);
}

// (mean, 1/σ) of n values; the biased variance, as torch's layer norm.
template <typename T>
void moments(const T* x, int64_t n, T eps, T* stats) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < n; ++k) sum += x[k];
  const T mean = sum / T(n);
  T squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t k = 0; k < n; ++k) squares += (x[k] - mean) * (x[k] - mean);
  stats[0] = mean;
  stats[1] = T(1) / std::sqrt(squares / T(n) + eps);
}

// d x through x̂ = (x - mean) / σ, given d x̂: (d x̂ - mean(d x̂) - x̂ ⊙ mean(d x̂ ⊙ x̂)) / σ.
// xhat holds x̂ on entry and d x on return.
template <typename T>
void norm_backward(const T* d_xhat, T* xhat, int64_t n, T rstd) {
  T sum = 0, dot = 0;
#pragma omp simd reduction(+ : sum, dot)
  for (int64_t k = 0; k < n; ++k) {
    sum += d_xhat[k];
    dot += d_xhat[k] * xhat[k];
  }
  const T mean_d = sum / T(n), mean_dot = dot / T(n);
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) xhat[k] = rstd * (d_xhat[k] - mean_d - xhat[k] * mean_dot);
}

struct LSTMTensors {
  torch::Tensor gates, h_all, c_all, act_c, w_hh;  // act_c (T or 1, B, H): tanh(c_out)
  c10::optional<torch::Tensor> mask, gain, rec_raw, rec_stats, ln_c_w, ln_c_b, c_stats;
  Ends ends;
  bool hand_product;  // W_hh products by `product` / `product_add` (small batch), not torch's
};

template <typename T>
void lstm_forward_typed(LSTMTensors& a, int64_t gate_kind, double eps_) {
  const int64_t steps = a.gates.size(0), batch = a.gates.size(1), hidden = a.h_all.size(2);
  const int64_t width = 4 * hidden, step = batch * hidden;
  const T eps = T(eps_);
  const bool norm_hh = a.gain.has_value(), norm_c = a.ln_c_w.has_value();
  const bool keep = a.act_c.size(0) == steps;  // every step saved for a backward
  const torch::Tensor w_t = a.w_hh.t();
  torch::Tensor h_in = a.mask.has_value() ? torch::empty({batch, hidden}, a.h_all.options())
                                          : torch::Tensor();
  T* g = a.gates.data_ptr<T>();
  T* h = a.h_all.data_ptr<T>();
  T* c = a.c_all.data_ptr<T>();
  T* act_c = a.act_c.data_ptr<T>();
  const T* gain = norm_hh ? a.gain->data_ptr<T>() : nullptr;
  const T* cw = norm_c ? a.ln_c_w->data_ptr<T>() : nullptr;
  const T* cb = norm_c ? a.ln_c_b->data_ptr<T>() : nullptr;
  const T* w = a.w_hh.data_ptr<T>();
  std::vector<T> rec(a.hand_product && !norm_hh ? batch * width : 0);  // (B, 4H): W_hh h_in
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t saved = keep ? t : 0;
    torch::Tensor state = a.h_all[t];
    if (a.mask.has_value()) {
      at::mul_out(h_in, state, *a.mask);
      state = h_in;
    }
    torch::Tensor gates_t = a.gates[t];  // (B, 4H), x_proj on entry
    T* gt = g + t * batch * width;
    if (norm_hh) {
      torch::Tensor raw = (*a.rec_raw)[saved];  // (B, 4H)
      if (a.hand_product) {
        product(w, state.data_ptr<T>(), raw.data_ptr<T>(), batch, width, hidden, width);
      } else {
        at::mm_out(raw, state, w_t);
      }
      T* r = raw.data_ptr<T>();
      T* st = a.rec_stats->data_ptr<T>() + saved * batch * 8;  // (B, 4, 2)
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t k = 0; k < 4; ++k) {
          const T* rk = r + b * width + k * hidden;
          T* sk = st + (b * 4 + k) * 2;
          moments(rk, hidden, eps, sk);
          T* gk = gt + b * width + k * hidden;
          const T* gain_k = gain + k * hidden;
#pragma omp simd
          for (int64_t j = 0; j < hidden; ++j) gk[j] += (rk[j] - sk[0]) * sk[1] * gain_k[j];
        }
      }
    } else if (a.hand_product) {
      product(w, state.data_ptr<T>(), rec.data(), batch, width, hidden, width);
#pragma omp simd
      for (int64_t k = 0; k < batch * width; ++k) gt[k] += rec[k];
    } else {
      at::addmm_out(gates_t, gates_t, state, w_t);
    }
    const T* c_prev = c + t * step;
    T* c_next = c + (t + 1) * step;
    T* h_next = h + (t + 1) * step;
    T* ac = act_c + saved * step;
    for (int64_t b = 0; b < batch; ++b) {
      T* i = gt + b * width;
      T* f = i + hidden;
      T* gg = f + hidden;
      T* o = gg + hidden;
      const T* cp = c_prev + b * hidden;
      T* cn = c_next + b * hidden;
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        i[j] = gate_of(i[j], gate_kind);
        f[j] = gate_of(f[j], gate_kind);
        gg[j] = tanh_of(gg[j]);
        o[j] = gate_of(o[j], gate_kind);
        cn[j] = f[j] * cp[j] + i[j] * gg[j];
      }
      T* acb = ac + b * hidden;
      if (norm_c) {
        T* sc = a.c_stats->data_ptr<T>() + (saved * batch + b) * 2;
        moments(cn, hidden, eps, sc);
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) acb[j] = tanh_of((cn[j] - sc[0]) * sc[1] * cw[j] + cb[j]);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) acb[j] = tanh_of(cn[j]);
      }
      T* hb = h_next + b * hidden;
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) hb[j] = o[j] * acb[j];
    }
    keep_ended(a.ends, t, c_prev, c_next, batch, hidden);
    keep_ended(a.ends, t, h + t * step, h_next, batch, hidden);
  }
}

// The backward loop: fills d_pre (T, B, 4H) and returns {dh_0, dc_0, d_gain, d_w_hh, d_ln_c_w,
// d_ln_c_b} (the last four undefined where there is no such parameter; without layer norm on
// W_hh h the caller forms d_w_hh = d_preᵀ h_in in one product):
//   d o = dh ⊙ tanh(c_out) ⊙ σ'(o), dc' = dc + LN_c'(dh ⊙ o ⊙ tanh'(c_out)),
//   d i = dc' ⊙ g ⊙ σ'(i), d f = dc' ⊙ c ⊙ σ'(f), d g = dc' ⊙ i ⊙ tanh'(g), dc_{t-1} = dc' ⊙ f,
//   d a = LN_hh'(d pre ⊙ gain), dh_{t-1} = d_trace_{t-1} + (d a · W_hh) ⊙ mask.
template <typename T>
std::vector<torch::Tensor> lstm_backward_typed(LSTMTensors& a, const torch::Tensor& d_trace,
                                               const torch::Tensor& d_c_n, torch::Tensor& d_pre,
                                               int64_t gate_kind, bool need_w_hh) {
  const int64_t steps = a.gates.size(0), batch = a.gates.size(1), hidden = a.h_all.size(2);
  const int64_t width = 4 * hidden, step = batch * hidden;
  const bool norm_hh = a.gain.has_value(), norm_c = a.ln_c_w.has_value();
  const auto options = a.h_all.options();
  torch::Tensor dh = d_trace[steps].clone(), dc = d_c_n.clone();
  torch::Tensor d_gain = norm_hh ? torch::zeros({width}, options) : torch::Tensor();
  torch::Tensor d_w_hh = norm_hh && need_w_hh ? torch::zeros_like(a.w_hh) : torch::Tensor();
  torch::Tensor d_cw = norm_c ? torch::zeros({hidden}, options) : torch::Tensor();
  torch::Tensor d_cb = norm_c ? torch::zeros({hidden}, options) : torch::Tensor();
  torch::Tensor d_rec = norm_hh ? torch::empty({batch, width}, options) : torch::Tensor();
  torch::Tensor h_in = a.mask.has_value() ? torch::empty({batch, hidden}, options) : torch::Tensor();
  torch::Tensor back = torch::empty({batch, hidden}, options);  // d a · W_hh
  std::vector<T> xhat(std::max(width, hidden)), d_xhat(std::max(width, hidden));
  const T* g = a.gates.data_ptr<T>();
  const T* c = a.c_all.data_ptr<T>();
  const T* act_c = a.act_c.data_ptr<T>();
  const T* dt = d_trace.data_ptr<T>();
  const T* gain = norm_hh ? a.gain->data_ptr<T>() : nullptr;
  const T* cw = norm_c ? a.ln_c_w->data_ptr<T>() : nullptr;
  const T* mask = a.mask.has_value() ? a.mask->data_ptr<T>() : nullptr;
  T* dp = d_pre.data_ptr<T>();
  T* dhp = dh.data_ptr<T>();
  T* dcp = dc.data_ptr<T>();
  T* d_gain_p = norm_hh ? d_gain.data_ptr<T>() : nullptr;
  T* d_cw_p = norm_c ? d_cw.data_ptr<T>() : nullptr;
  T* d_cb_p = norm_c ? d_cb.data_ptr<T>() : nullptr;
  T* backp = back.data_ptr<T>();
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* gt = g + t * batch * width;
    T* dpt = dp + t * batch * width;
    for (int64_t b = 0; b < batch; ++b) {
      const T* i = gt + b * width;
      const T* f = i + hidden;
      const T* gg = f + hidden;
      const T* o = gg + hidden;
      const T* ac = act_c + t * step + b * hidden;
      const T* cp = c + t * step + b * hidden;
      const T* cn = c + (t + 1) * step + b * hidden;
      T* di = dpt + b * width;
      T* df = di + hidden;
      T* dg = df + hidden;
      T* dov = dg + hidden;
      T* dhb = dhp + b * hidden;
      T* dcb = dcp + b * hidden;
      if (a.ends.ended(t, b)) {  // dc passes through as it is
        std::fill(di, di + width, T(0));
        continue;
      }
      T* d_c_out = d_xhat.data();
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        dov[j] = dhb[j] * ac[j] * gate_slope(o[j], gate_kind);
        d_c_out[j] = dhb[j] * o[j] * (T(1) - ac[j] * ac[j]);
      }
      if (norm_c) {
        const T* sc = a.c_stats->data_ptr<T>() + (t * batch + b) * 2;
        T* x = xhat.data();
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) {
          x[j] = (cn[j] - sc[0]) * sc[1];
          d_cw_p[j] += d_c_out[j] * x[j];
          d_cb_p[j] += d_c_out[j];
          d_c_out[j] *= cw[j];
        }
        norm_backward(d_c_out, x, hidden, sc[1]);
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) dcb[j] += x[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < hidden; ++j) dcb[j] += d_c_out[j];
      }
#pragma omp simd
      for (int64_t j = 0; j < hidden; ++j) {
        const T d = dcb[j];
        di[j] = d * gg[j] * gate_slope(i[j], gate_kind);
        df[j] = d * cp[j] * gate_slope(f[j], gate_kind);
        dg[j] = d * i[j] * (T(1) - gg[j] * gg[j]);
        dcb[j] = d * f[j];
      }
    }
    torch::Tensor d_a;
    torch::Tensor state = a.h_all[t];
    if (a.mask.has_value()) {
      at::mul_out(h_in, state, *a.mask);
      state = h_in;
    }
    if (norm_hh) {
      const T* raw = a.rec_raw->data_ptr<T>() + t * batch * width;
      const T* st = a.rec_stats->data_ptr<T>() + t * batch * 8;
      T* dr = d_rec.data_ptr<T>();
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t k = 0; k < 4; ++k) {
          const T* rk = raw + b * width + k * hidden;
          const T* sk = st + (b * 4 + k) * 2;
          const T* dk = dpt + b * width + k * hidden;
          const T* gain_k = gain + k * hidden;
          T* d_gain_k = d_gain_p + k * hidden;
          T* x = dr + b * width + k * hidden;
          T* dx = d_xhat.data();
#pragma omp simd
          for (int64_t j = 0; j < hidden; ++j) {
            x[j] = (rk[j] - sk[0]) * sk[1];
            d_gain_k[j] += dk[j] * x[j];
            dx[j] = dk[j] * gain_k[j];
          }
          norm_backward(dx, x, hidden, sk[1]);
        }
      }
      d_a = d_rec;
      if (need_w_hh) d_w_hh.addmm_(d_rec.t(), state);
    } else {
      d_a = d_pre[t];
    }
    if (a.hand_product) {  // back (B, H) = d_a (B, 4H) · W_hh
      std::fill(backp, backp + step, T(0));
      product_add(a.w_hh.data_ptr<T>(), d_a.data_ptr<T>(), backp, batch, width, hidden, width);
    } else {
      at::mm_out(back, d_a, a.w_hh);
    }
    const T* dtt = dt + t * step;
#pragma omp simd
    for (int64_t b = 0; b < batch; ++b) {
      const bool ended = a.ends.ended(t, b);  // its row of back is 0: d pre was
      for (int64_t k = b * hidden; k < (b + 1) * hidden; ++k) {
        dhp[k] = dtt[k] + (mask ? backp[k] * mask[k] : backp[k]) + (ended ? dhp[k] : T(0));
      }
    }
  }
  return {dh, dc, d_gain, d_w_hh, d_cw, d_cb};
}

LSTMTensors lstm_tensors(torch::Tensor gates, torch::Tensor h_all, torch::Tensor c_all,
                         torch::Tensor act_c, torch::Tensor w_hh,
                         c10::optional<torch::Tensor> mask, c10::optional<torch::Tensor> gain,
                         c10::optional<torch::Tensor> rec_raw,
                         c10::optional<torch::Tensor> rec_stats,
                         c10::optional<torch::Tensor> ln_c_w, c10::optional<torch::Tensor> ln_c_b,
                         c10::optional<torch::Tensor> c_stats,
                         const c10::optional<torch::Tensor>& lengths, bool hand_product) {
  LSTMTensors a{gates, h_all, c_all, act_c, readable(w_hh, "w_hh"), readable(mask, "mask"),
                readable(gain, "gain"), rec_raw, rec_stats, readable(ln_c_w, "ln_c_w"),
                readable(ln_c_b, "ln_c_b"), c_stats, ends_of(lengths), hand_product};
  writable(a.gates, "gates");
  writable(a.h_all, "h_all");
  writable(a.c_all, "c_all");
  writable(a.act_c, "act_c");
  if (a.rec_raw.has_value()) writable(*a.rec_raw, "rec_raw");
  if (a.rec_stats.has_value()) writable(*a.rec_stats, "rec_stats");
  if (a.c_stats.has_value()) writable(*a.c_stats, "c_stats");
  TORCH_CHECK(a.gain.has_value() == a.rec_raw.has_value() &&
                  a.gain.has_value() == a.rec_stats.has_value(),
              "fused_loop: gain, rec_raw and rec_stats come together");
  TORCH_CHECK(a.ln_c_w.has_value() == a.ln_c_b.has_value() &&
                  a.ln_c_w.has_value() == a.c_stats.has_value(),
              "fused_loop: ln_c_w, ln_c_b and c_stats come together");
  return a;
}

// ---------------------------------------------------------------------------------------------
// entry points

void rnn_forward(torch::Tensor x_proj, torch::Tensor h_all, torch::Tensor w_hh, bool relu,
                 c10::optional<torch::Tensor> lengths) {
  x_proj = readable(x_proj, "x_proj");
  w_hh = readable(w_hh, "w_hh");
  writable(h_all, "h_all");
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "rnn_forward", [&] {
    rnn_forward_typed<scalar_t>(x_proj, h_all, w_hh, relu, ends_of(lengths));
  });
}

torch::Tensor rnn_backward(torch::Tensor h_all, torch::Tensor w_hh, torch::Tensor d_trace,
                           torch::Tensor d_pre, bool relu, c10::optional<torch::Tensor> lengths) {
  writable(h_all, "h_all");
  writable(d_pre, "d_pre");
  w_hh = readable(w_hh, "w_hh");
  d_trace = readable(d_trace, "d_trace");
  torch::Tensor dh = d_trace[d_trace.size(0) - 1].clone();
  AT_DISPATCH_FLOATING_TYPES(h_all.scalar_type(), "rnn_backward", [&] {
    rnn_backward_typed<scalar_t>(h_all, w_hh, d_trace, d_pre, dh, relu, ends_of(lengths));
  });
  return dh;
}

void gru_forward(torch::Tensor gates, torch::Tensor h_all, torch::Tensor w_hh,
                 c10::optional<torch::Tensor> b_hn, torch::Tensor recurrent_n, bool reset_after,
                 c10::optional<torch::Tensor> lengths) {
  writable(gates, "gates");
  writable(h_all, "h_all");
  writable(recurrent_n, "recurrent_n");
  w_hh = readable(w_hh, "w_hh");
  b_hn = readable(b_hn, "b_hn");
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_forward", [&] {
    gru_forward_typed<scalar_t>(gates, h_all, w_hh, b_hn, recurrent_n, reset_after,
                                ends_of(lengths));
  });
}

torch::Tensor gru_backward(torch::Tensor gates, torch::Tensor h_all, torch::Tensor recurrent_n,
                           torch::Tensor w_hh, torch::Tensor d_trace, torch::Tensor d_pre,
                           torch::Tensor d_rec_n, bool reset_after,
                           c10::optional<torch::Tensor> lengths) {
  writable(gates, "gates");
  writable(h_all, "h_all");
  writable(recurrent_n, "recurrent_n");
  writable(d_pre, "d_pre");
  writable(d_rec_n, "d_rec_n");
  w_hh = readable(w_hh, "w_hh");
  d_trace = readable(d_trace, "d_trace");
  torch::Tensor dh = d_trace[d_trace.size(0) - 1].clone();
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    gru_backward_typed<scalar_t>(gates, h_all, recurrent_n, w_hh, d_trace, d_pre, d_rec_n, dh,
                                 reset_after, ends_of(lengths));
  });
  return dh;
}

void lstm_forward(torch::Tensor gates, torch::Tensor h_all, torch::Tensor c_all,
                  torch::Tensor act_c, torch::Tensor w_hh, c10::optional<torch::Tensor> mask,
                  c10::optional<torch::Tensor> gain, c10::optional<torch::Tensor> rec_raw,
                  c10::optional<torch::Tensor> rec_stats, c10::optional<torch::Tensor> ln_c_w,
                  c10::optional<torch::Tensor> ln_c_b, c10::optional<torch::Tensor> c_stats,
                  c10::optional<torch::Tensor> lengths, bool hand_product, int64_t gate_kind,
                  double eps) {
  LSTMTensors a = lstm_tensors(gates, h_all, c_all, act_c, w_hh, mask, gain, rec_raw, rec_stats,
                               ln_c_w, ln_c_b, c_stats, lengths, hand_product);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_forward", [&] {
    lstm_forward_typed<scalar_t>(a, gate_kind, eps);
  });
}

std::vector<torch::Tensor> lstm_backward(
    torch::Tensor gates, torch::Tensor h_all, torch::Tensor c_all, torch::Tensor act_c,
    torch::Tensor w_hh, c10::optional<torch::Tensor> mask, c10::optional<torch::Tensor> gain,
    c10::optional<torch::Tensor> rec_raw, c10::optional<torch::Tensor> rec_stats,
    c10::optional<torch::Tensor> ln_c_w, c10::optional<torch::Tensor> ln_c_b,
    c10::optional<torch::Tensor> c_stats, c10::optional<torch::Tensor> lengths,
    bool hand_product, torch::Tensor d_trace, torch::Tensor d_c_n, torch::Tensor d_pre,
    int64_t gate_kind, bool need_w_hh) {
  LSTMTensors a = lstm_tensors(gates, h_all, c_all, act_c, w_hh, mask, gain, rec_raw, rec_stats,
                               ln_c_w, ln_c_b, c_stats, lengths, hand_product);
  d_trace = readable(d_trace, "d_trace");
  d_c_n = readable(d_c_n, "d_c_n");
  writable(d_pre, "d_pre");
  std::vector<torch::Tensor> result;
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    result = lstm_backward_typed<scalar_t>(a, d_trace, d_c_n, d_pre, gate_kind, need_w_hh);
  });
  return result;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // The loops touch no Python object: other Python threads run while one of them does.
  const auto release = pybind11::call_guard<pybind11::gil_scoped_release>();
  m.def("rnn_forward", &rnn_forward, "vanilla RNN forward loop", release);
  m.def("rnn_backward", &rnn_backward, "vanilla RNN backward loop", release);
  m.def("gru_forward", &gru_forward, "GRU forward loop", release);
  m.def("gru_backward", &gru_backward, "GRU backward loop", release);
  m.def("lstm_forward", &lstm_forward, "LSTM forward loop", release);
  m.def("lstm_backward", &lstm_backward, "LSTM backward loop", release);
}
