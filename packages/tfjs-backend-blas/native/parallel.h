// A tiny fork-join pool for the elementwise loops. OpenBLAS keeps its own threads for sgemm; these workers only
// run while a native elementwise kernel runs (the JS thread takes a share and waits for the rest).
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bioprop {

class Pool {
 public:
  ~Pool() { resize(1); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    n = std::max(1, n);
    if (n == size()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      gen_++;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    for (int i = 1; i < n; i++) workers_.emplace_back([this, i] { loop(i); });
  }

  // Runs task(part) for part in [0, parts) with parts == size(); returns when all are done.
  void run(const std::function<void(int)>& task) {
    const int parts = size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      pending_.store(parts - 1);
      gen_++;
    }
    cv_.notify_all();
    task(0);
    // workers finish within microseconds of the JS thread's share: spin, then yield
    while (pending_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
    task_ = nullptr;
  }

 private:
  void loop(int part) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = gen_;
    }
    for (;;) {
      const std::function<void(int)>* task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return gen_ != seen; });
        seen = gen_;
        if (stop_) return;
        task = task_;
      }
      (*task)(part);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t gen_ = 0;
  bool stop_ = false;
  const std::function<void(int)>* task_ = nullptr;
  std::atomic<int> pending_{0};
};

inline Pool& pool() {
  static Pool p;
  return p;
}

inline int threadCount() { return pool().size(); }
inline void setThreadCount(int n) { pool().resize(n); }

// Below this much work (elements × relative cost) a split costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 16;

// f(begin, end) over [0, n), split across the pool when n·cost is large enough.
template <class F>
void parallelFor(int64_t n, int64_t cost, F&& f) {
  const int threads = threadCount();
  if (threads <= 1 || n < 2 || n * std::max<int64_t>(cost, 1) < kParallelGrain) {
    f(int64_t{0}, n);
    return;
  }
  const int parts = static_cast<int>(std::min<int64_t>(threads, n));
  std::function<void(int)> task = [&](int part) {
    if (part >= parts) return;
    const int64_t s = n * part / parts, e = n * (part + 1) / parts;
    if (s < e) f(s, e);
  };
  pool().run(task);
}

}  // namespace bioprop
