"""Does the compiled plan's C call release the GIL? Count Python loop iterations in a
second thread while the main thread runs one long C call (a large matmul plan)."""
import threading, time
import numpy as np
import graphnet as gn
gn.backend.set_num_threads(1) if hasattr(gn.backend, "set_num_threads") else None
i = gn.Input((2048,)); m = gn.Model(i, gn.layers.Dense(2048)(i))
x = np.random.rand(2048, 2048).astype("float32")
fn = m.predict_function(); fn(x)
t0 = time.perf_counter(); fn(x); single = time.perf_counter() - t0
count = [0]; stop = [False]
def spin():
    while not stop[0]:
        count[0] += 1
th = threading.Thread(target=spin); th.start(); time.sleep(0.05)
c0 = count[0]; t0 = time.perf_counter(); fn(x); t1 = time.perf_counter(); c1 = count[0]
time.sleep(0.2); c2 = count[0]; stop[0] = True; th.join()
print(f"C call {t1-t0:.3f}s (alone {single:.3f}s); spinner iterations during the call: {c1-c0}, "
      f"per 0.2 s idle: {c2-c1}")
