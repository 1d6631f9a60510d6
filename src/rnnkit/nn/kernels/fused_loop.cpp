// The time loops of the vanilla RNN and the GRU for the bptt kernel, each step's product and
// pointwise equations written out as plain loops (see fused_loop.py for when they run).
//
// Shapes: T steps, B batch, H hidden. Every tensor is contiguous, row-major:
//   x_proj / gates (T, B, G*H), h_all (T+1, B, H), w_hh (G*H, H), d_trace (T+1, B, H).
// Gate order follows torch.nn: GRU r, z, n.

#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
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
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
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
  std::memcpy(&scale, &bits, sizeof scale);
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

void check(const torch::Tensor& tensor, const char* name) {
  TORCH_CHECK(tensor.device().is_cpu() && tensor.is_contiguous(),
              "fused_loop: ", name, " must be a contiguous CPU tensor");
}

// ---------------------------------------------------------------------------------------------
// RNN: h_t = act(x_proj_t + W_hh h_{t-1}), act = tanh or relu.

template <typename T>
void rnn_forward_typed(const torch::Tensor& x_proj, torch::Tensor& h_all, const torch::Tensor& w_hh,
                       bool relu) {
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
  }
}

// Fills d_pre (T, B, H) with d(pre-activation) and returns dh_0 (B, H):
//   d pre_t = dh_t ⊙ act'(h_t), dh_{t-1} = d_trace_{t-1} + d pre_t · W_hh.
template <typename T>
void rnn_backward_typed(const torch::Tensor& h_all, const torch::Tensor& w_hh,
                        const torch::Tensor& d_trace, torch::Tensor& d_pre, torch::Tensor& dh,
                        bool relu) {
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
    for (int64_t k = 0; k < step; ++k) {
      const T slope = relu ? (y[k] > T(0) ? T(1) : T(0)) : T(1) - y[k] * y[k];
      dpt[k] = dhp[k] * slope;
      dhp[k] = dtt[k];
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
                       bool reset_after) {
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
      const T* nb = rec + b * 3 * hidden + 2 * hidden;
      T* out = h_next + b * hidden;
#pragma omp simd
      for (int64_t i = 0; i < hidden; ++i) {
        const T pre_n = gb[2 * hidden + i] + (reset_after ? gb[i] * rnb[i] : nb[i]);
        const T n = tanh_of(pre_n);
        const T z = gb[hidden + i];
        gb[2 * hidden + i] = n;
        out[i] = n + z * (hb[i] - n);
      }
    }
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
                        torch::Tensor& d_rec_n, torch::Tensor& dh, bool reset_after) {
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
// entry points

void rnn_forward(torch::Tensor x_proj, torch::Tensor h_all, torch::Tensor w_hh, bool relu) {
  check(x_proj, "x_proj");
  check(h_all, "h_all");
  check(w_hh, "w_hh");
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "rnn_forward", [&] {
    rnn_forward_typed<scalar_t>(x_proj, h_all, w_hh, relu);
  });
}

torch::Tensor rnn_backward(torch::Tensor h_all, torch::Tensor w_hh, torch::Tensor d_trace,
                           torch::Tensor d_pre, bool relu) {
  check(h_all, "h_all");
  check(w_hh, "w_hh");
  check(d_trace, "d_trace");
  check(d_pre, "d_pre");
  torch::Tensor dh = d_trace[d_trace.size(0) - 1].clone();
  AT_DISPATCH_FLOATING_TYPES(h_all.scalar_type(), "rnn_backward", [&] {
    rnn_backward_typed<scalar_t>(h_all, w_hh, d_trace, d_pre, dh, relu);
  });
  return dh;
}

void gru_forward(torch::Tensor gates, torch::Tensor h_all, torch::Tensor w_hh,
                 c10::optional<torch::Tensor> b_hn, torch::Tensor recurrent_n, bool reset_after) {
  check(gates, "gates");
  check(h_all, "h_all");
  check(w_hh, "w_hh");
  check(recurrent_n, "recurrent_n");
  if (b_hn.has_value()) check(*b_hn, "b_hn");
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_forward", [&] {
    gru_forward_typed<scalar_t>(gates, h_all, w_hh, b_hn, recurrent_n, reset_after);
  });
}

torch::Tensor gru_backward(torch::Tensor gates, torch::Tensor h_all, torch::Tensor recurrent_n,
                           torch::Tensor w_hh, torch::Tensor d_trace, torch::Tensor d_pre,
                           torch::Tensor d_rec_n, bool reset_after) {
  check(gates, "gates");
  check(h_all, "h_all");
  check(recurrent_n, "recurrent_n");
  check(w_hh, "w_hh");
  check(d_trace, "d_trace");
  check(d_pre, "d_pre");
  check(d_rec_n, "d_rec_n");
  torch::Tensor dh = d_trace[d_trace.size(0) - 1].clone();
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    gru_backward_typed<scalar_t>(gates, h_all, recurrent_n, w_hh, d_trace, d_pre, d_rec_n, dh,
                                 reset_after);
  });
  return dh;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rnn_forward", &rnn_forward, "vanilla RNN forward loop");
  m.def("rnn_backward", &rnn_backward, "vanilla RNN backward loop");
  m.def("gru_forward", &gru_forward, "GRU forward loop");
  m.def("gru_backward", &gru_backward, "GRU backward loop");
}
