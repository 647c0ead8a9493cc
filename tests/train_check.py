"""``assert_backends_train_alike``: a model trained by the compiled C plan ends with the
weights and optimizer state the reference interpreter's training gives it."""
import numpy as np


def assert_backends_train_alike(build, x, y, optimizer="adam",
                                loss="categorical_crossentropy", batch_size=8, epochs=2,
                                rtol=1e-4, atol=1e-5):
    """``build()`` makes a fresh model (seed its initializers inside); ``optimizer`` is a
    name or a factory of optimizer instances (each backend gets its own)."""
    results = []
    for backend in ("c", "reference"):
        model = build()
        opt = optimizer if isinstance(optimizer, str) else optimizer()
        model.compile(optimizer=opt, loss=loss, backend=backend)
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
        results.append(model.get_weights() + model.optimizer.get_weights())
    assert len(results[0]) == len(results[1]) > 0
    for c_w, ref_w in zip(*results):
        np.testing.assert_allclose(c_w, ref_w, rtol=rtol, atol=atol)
