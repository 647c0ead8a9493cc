"""Custom train_step / test_step / predict_step compiled into one plan per batch shape,
against Keras 3 on torch (its train_step written the torch way: zero_grad, backward,
optimizer.apply) step for step: keras.io's "Customizing what happens in fit()"
CustomModel and GAN, the VAE, and a siamese pair with a contrastive loss."""
import numpy as np
import pytest

import graphnet as gn
from extras import compare_with, keras, torch


def _close(got, want, atol=1e-5):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)


def _torch_apply(model, loss, variables):
    """Keras's torch train_step: backward, then optimizer.apply of the .grad tensors."""
    loss.backward()
    grads = [v.value.grad for v in variables]
    with torch.no_grad():
        model.optimizer.apply(grads, variables)


# -- keras.io: CustomModel with a loss tracker and an MAE metric -------------------------------
class CustomModel(gn.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = gn.metrics.Mean(name="loss")
        self.mae_metric = gn.metrics.MeanAbsoluteError(name="mae")
        self.traced = 0

    def train_step(self, data):
        self.traced += 1
        x, y = data
        with gn.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = gn.ops.mean(gn.ops.square(y - y_pred))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def _layers(lib, inputs, batch_norm=False):
    """The models' layers: Dense 4 tanh (BatchNormalization after it), Dense 1."""
    h = lib.layers.Dense(4, activation="tanh")(inputs)
    if batch_norm:
        h = lib.layers.BatchNormalization()(h)
    return lib.layers.Dense(1)(h)


def _keras_custom_model(batch_norm=False):
    class KerasCustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

        def train_step(self, data):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)  # train_on_batch: (x, y, None)
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = keras.ops.mean(keras.ops.square(keras.ops.subtract(y, y_pred)))
            _torch_apply(self, loss, self.trainable_weights)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]
    inputs = keras.Input(shape=(6,))
    return KerasCustomModel(inputs, _layers(keras, inputs, batch_norm))


def _regression(n=20):
    rng = np.random.default_rng(5)
    return rng.normal(size=(n, 6)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


@pytest.mark.parametrize("batch_norm", [False, True])
def test_custom_model_train_step_matches_keras_over_five_steps(batch_norm):
    x, y = _regression()
    inputs = gn.Input(shape=(6,))
    model = CustomModel(inputs, _layers(gn, inputs, batch_norm))
    start = model.get_weights()
    model.compile(optimizer=gn.optimizers.SGD(0.05))
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert model.traced == 1         # traced once: every batch runs the compiled plan
    assert set(history.history) == {"loss", "mae"}
    logs = model.train_on_batch(x[:4], y[:4], return_dict=True)
    assert model.traced == 1
    if batch_norm:    # the moving statistics were updated in the traced step
        assert np.abs(model.layers[2].moving_mean.numpy()).max() > 1e-3
    if compare_with(keras, "keras.io CustomModel, 5 steps + train_on_batch"):
        kmodel = _keras_custom_model(batch_norm)
        kmodel.set_weights(start)
        kmodel.compile(optimizer=keras.optimizers.SGD(0.05))
        khistory = kmodel.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        klogs = kmodel.train_on_batch(x[:4], y[:4], return_dict=True)
        _close([history.history["loss"], history.history["mae"]],
               [khistory.history["loss"], khistory.history["mae"]])
        _close([logs["loss"], logs["mae"]], [klogs["loss"], klogs["mae"]])
        _close(model.get_weights(), kmodel.get_weights())


def test_metrics_reset_each_epoch_and_steps_per_execution_groups_the_custom_step():
    x, y = _regression(16)
    runs = {}
    for spe in (1, 4):
        inputs = gn.Input(shape=(6,))
        model = CustomModel(inputs, gn.layers.Dense(1)(inputs))
        model.set_weights([np.full((6, 1), 0.1, "float32"), np.zeros(1, "float32")])
        model.compile(optimizer=gn.optimizers.SGD(0.05), steps_per_execution=spe)
        runs[spe] = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    _close(runs[1].history["loss"], runs[4].history["loss"])
    # the second epoch's mean is over its own 4 batches (the state was reset)
    assert runs[1].history["loss"][1] < runs[1].history["loss"][0]


class OneDense(gn.Model):
    """A subclassed model of one Dense layer, for the tests' step overrides."""

    def __init__(self, units=1):
        super().__init__()
        self.dense = gn.layers.Dense(units)

    def call(self, x):
        return self.dense(x)


def test_default_test_step_and_a_custom_predict_step():
    class Doubled(OneDense):
        def predict_step(self, data):
            return {"double": self(data) * 2.0, "plain": self(data)}

    x, y = _regression(10)
    model = Doubled(2)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    out = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_allclose(out["double"], 2 * out["plain"], rtol=1e-6)
    np.testing.assert_allclose(out["plain"], x @ model.dense.kernel.numpy()
                               + model.dense.bias.numpy(), rtol=1e-5, atol=1e-6)
    y2 = np.concatenate([y, y], axis=1)
    result = model.evaluate(x, y2, batch_size=4, verbose=0, return_dict=True)
    pred = out["plain"]
    np.testing.assert_allclose(result["loss"], np.mean((pred - y2) ** 2), rtol=1e-5)
    np.testing.assert_allclose(result["mae"], np.mean(np.abs(pred - y2)), rtol=1e-5)


# -- keras.io: the GAN (two sub-models, two optimizers) ----------------------------------------
def _gan_class(lib):
    ops = lib.ops

    class GAN(lib.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.d_loss_tracker = lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = lib.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, data):
            real, z = data[:2]   # the latent vectors come with the data: same on both sides
            generated = self.generator(z)
            combined = ops.concatenate([generated, real], axis=0)
            ones = ops.ones_like(real[:, :1])
            labels = ops.concatenate([ones, ops.zeros_like(ones)], axis=0)
            d_loss = self.step(lambda: self.loss_fn(labels, self.discriminator(combined)),
                               self.discriminator, self.d_optimizer)
            g_loss = self.step(lambda: self.loss_fn(ops.zeros_like(ones),
                                                    self.discriminator(self.generator(z))),
                               self.generator, self.g_optimizer)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(),
                    "g_loss": self.g_loss_tracker.result()}

        def step(self, loss_of, model, optimizer):
            if lib is gn:
                with gn.GradientTape() as tape:
                    loss = loss_of()
                grads = tape.gradient(loss, model.trainable_weights)
                optimizer.apply(grads, model.trainable_weights)
                return loss
            self.zero_grad()
            loss = loss_of()
            loss.backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in model.trainable_weights],
                                model.trainable_weights)
            return loss
    return GAN


def _gan(lib):
    disc = lib.Sequential([lib.Input((5,)), lib.layers.Dense(8, activation="relu"),
                           lib.layers.Dense(1)], name="discriminator")
    gen = lib.Sequential([lib.Input((3,)), lib.layers.Dense(8, activation="relu"),
                          lib.layers.Dense(5, activation="tanh")], name="generator")
    gan = _gan_class(lib)(disc, gen)
    gan.compile(d_optimizer=lib.optimizers.Adam(0.003), g_optimizer=lib.optimizers.Adam(0.002),
                loss_fn=lib.losses.BinaryCrossentropy(from_logits=True))
    return gan, disc, gen


def test_gan_train_step_matches_keras_over_five_steps():
    rng = np.random.default_rng(11)
    real = rng.normal(size=(20, 5)).astype("float32")
    z = rng.normal(size=(20, 3)).astype("float32")
    gan, disc, gen = _gan(gn)
    start = (disc.get_weights(), gen.get_weights())
    history = gan.fit(real, z, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert gan.d_optimizer.iterations.numpy() == 5 and gan.g_optimizer.iterations.numpy() == 5
    if compare_with(keras, "keras.io GAN, 5 steps"):
        kgan, kdisc, kgen = _gan(keras)
        kgan.built = True   # no call(): Keras cannot build it by calling it
        kdisc.set_weights(start[0])
        kgen.set_weights(start[1])
        khistory = kgan.fit(real, z, batch_size=4, epochs=1, shuffle=False, verbose=0)
        _close([history.history["d_loss"], history.history["g_loss"]],
               [khistory.history["d_loss"], khistory.history["g_loss"]])
        _close(disc.get_weights() + gen.get_weights(), kdisc.get_weights() + kgen.get_weights())


# -- keras.io: the VAE (encoder and decoder sub-models, KL term, trackers) ---------------------
def _vae_class(lib, kl_by_add_loss):
    ops = lib.ops

    class KLDivergence(lib.layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            self.add_loss(ops.mean(ops.sum(kl, axis=1)))
            return z_mean

    class VAE(lib.Model):
        def __init__(self):
            super().__init__()
            inputs = lib.Input((12,))
            h = lib.layers.Dense(8, activation="relu")(inputs)
            z_mean, z_log_var = lib.layers.Dense(2)(h), lib.layers.Dense(2)(h)
            if kl_by_add_loss:    # the encoder adds the KL term, train_step reads it back
                z_mean = KLDivergence()([z_mean, z_log_var])
            self.encoder = lib.Model(inputs, [z_mean, z_log_var], name="encoder")
            latent = lib.Input((2,))
            self.decoder = lib.Model(latent, lib.layers.Dense(12, activation="sigmoid")(
                lib.layers.Dense(8, activation="relu")(latent)), name="decoder")
            self.total_loss_tracker = lib.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = lib.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = lib.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]

        def losses_of(self, x, eps):
            z_mean, z_log_var = self.encoder(x)
            z = z_mean + ops.exp(0.5 * z_log_var) * eps
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(
                lib.losses.binary_crossentropy(ops.expand_dims(x, -1),
                                               ops.expand_dims(reconstruction, -1)),
                axis=1))
            if kl_by_add_loss:
                [kl_loss] = self.encoder.losses
            else:
                kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl_loss = ops.mean(ops.sum(kl, axis=1))
            return reconstruction_loss, kl_loss

        def train_step(self, data):
            x, eps = data
            if lib is gn:
                with gn.GradientTape() as tape:
                    reconstruction_loss, kl_loss = self.losses_of(x, eps)
                    total_loss = reconstruction_loss + kl_loss
                grads = tape.gradient(total_loss, self.trainable_weights)
                self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            else:
                self.zero_grad()
                reconstruction_loss, kl_loss = self.losses_of(x, eps)
                total_loss = reconstruction_loss + kl_loss
                _torch_apply(self, total_loss, self.trainable_weights)
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {m.name: m.result() for m in self.metrics}
    return VAE


@pytest.mark.parametrize("kl_by_add_loss", [False, True])
def test_vae_train_step_matches_keras_over_five_steps(kl_by_add_loss):
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(20, 12)).astype("float32")
    eps = rng.normal(size=(20, 2)).astype("float32")
    vae = _vae_class(gn, kl_by_add_loss)()
    vae.compile(optimizer=gn.optimizers.Adam(0.01))
    start = vae.get_weights()
    history = vae.fit(x, eps, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert list(history.history) == ["total_loss", "reconstruction_loss", "kl_loss"]
    assert history.history["kl_loss"][0] > 0
    if compare_with(keras, "keras.io VAE, 5 steps"):
        kvae = _vae_class(keras, kl_by_add_loss)()
        kvae.built = True   # no call(): Keras cannot build it by calling it
        kvae.compile(optimizer=keras.optimizers.Adam(0.01))
        kvae.encoder.set_weights(start[:6])
        kvae.decoder.set_weights(start[6:])
        khistory = kvae.fit(x, eps, batch_size=4, epochs=1, shuffle=False, verbose=0)
        for name in history.history:
            _close(history.history[name], khistory.history[name])
        _close(vae.get_weights(), kvae.encoder.get_weights() + kvae.decoder.get_weights())


# -- a siamese pair with a contrastive loss -----------------------------------------------------
def _siamese_class(lib, margin=1.0):
    ops = lib.ops

    class Siamese(lib.Model):
        def __init__(self):
            super().__init__()
            inputs = lib.Input((7,))
            self.embedding = lib.Model(inputs, lib.layers.Dense(3)(
                lib.layers.Dense(6, activation="relu")(inputs)))
            self.loss_tracker = lib.metrics.Mean(name="loss")

        def call(self, pair):
            a, b = pair
            diff = self.embedding(a) - self.embedding(b)
            return ops.sqrt(ops.sum(ops.square(diff), axis=1, keepdims=True) + 1e-6)

        def contrastive(self, same, distance):
            far = ops.square(ops.maximum(margin - distance, 0.0))
            return ops.mean(same * ops.square(distance) + (1.0 - same) * far)

        def train_step(self, data):
            pair, same = data
            if lib is gn:
                with gn.GradientTape() as tape:
                    loss = self.contrastive(same, self(pair, training=True))
                self.optimizer.apply(tape.gradient(loss, self.trainable_weights),
                                     self.trainable_weights)
            else:
                self.zero_grad()
                loss = self.contrastive(same, self(pair, training=True))
                _torch_apply(self, loss, self.trainable_weights)
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

        def test_step(self, data):
            pair, same = data
            self.loss_tracker.update_state(self.contrastive(same, self(pair)))
            return {"loss": self.loss_tracker.result()}
    return Siamese


def test_siamese_contrastive_train_step_matches_keras_over_five_steps():
    rng = np.random.default_rng(8)
    a, b = (rng.normal(size=(20, 7)).astype("float32") for _ in range(2))
    same = rng.integers(0, 2, size=(20, 1)).astype("float32")
    net = _siamese_class(gn)()
    net.compile(optimizer=gn.optimizers.RMSprop(0.01))
    history = net.fit((a, b), same, batch_size=4, epochs=1, shuffle=False, verbose=0)
    start_eval = net.evaluate((a, b), same, batch_size=4, verbose=0)
    if compare_with(keras, "a siamese contrastive model, 5 steps"):
        knet = _siamese_class(keras)()
        knet((a[:1], b[:1]))
        knet.compile(optimizer=keras.optimizers.RMSprop(0.01))
        fresh = _siamese_class(gn)()
        fresh((a[:1], b[:1]))
        knet.set_weights(fresh.get_weights())
        fresh.compile(optimizer=gn.optimizers.RMSprop(0.01))
        history = fresh.fit((a, b), same, batch_size=4, epochs=1, shuffle=False, verbose=0,
                            validation_data=((b, a), same))
        khistory = knet.fit((a, b), same, batch_size=4, epochs=1, shuffle=False, verbose=0,
                            validation_data=((b, a), same))
        assert set(history.history) == {"loss", "val_loss"}
        _close([history.history["loss"], history.history["val_loss"]],
               [khistory.history["loss"], khistory.history["val_loss"]])
        _close(fresh.get_weights(), knet.get_weights())
        _close([fresh.evaluate((a, b), same, batch_size=4, verbose=0)],
               [knet.evaluate((a, b), same, batch_size=4, verbose=0)])
    assert np.isfinite(start_eval)


# -- bad input ---------------------------------------------------------------------------------
def test_a_train_step_returning_a_non_dict_is_refused():
    class Bad(OneDense):
        def train_step(self, data):
            x, y = data
            return gn.ops.mean(self(x) - y)

    x, y = _regression(8)
    model = Bad()
    model.compile(optimizer="sgd")
    with pytest.raises(TypeError, match="train_step must return a dict.*got SymbolicTensor"):
        model.fit(x, y, verbose=0)


def test_a_tape_gradient_of_a_variable_not_in_the_graph_is_refused():
    class Unrelated(OneDense):
        def __init__(self):
            super().__init__()
            self.other = gn.Variable(np.zeros(3, "float32"), name="other")

        def train_step(self, data):
            x, y = data
            with gn.GradientTape() as tape:
                loss = gn.ops.mean(gn.ops.square(self(x) - y))
            tape.gradient(loss, [self.other])
            return {"loss": loss}

    x, y = _regression(8)
    model = Unrelated()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"does not depend on \['other'\]"):
        model.fit(x, y, verbose=0)


def test_class_weight_reaches_a_custom_train_step_as_sample_weights():
    class WeightSum(OneDense):
        def train_step(self, data):
            x, y, sample_weight = gn.utils.unpack_x_y_sample_weight(data)
            return {"weight_sum": gn.ops.sum(sample_weight)}

    x, _ = _regression(6)
    labels = np.array([0, 1, 1, 0, 1, 1], "float32").reshape(-1, 1)
    model = WeightSum()
    model.compile(optimizer="sgd")
    logs = model.train_on_batch(x, labels, class_weight={0: 2.0, 1: 0.5}, return_dict=True)
    assert logs == {"weight_sum": 2 * 2.0 + 4 * 0.5}
    with pytest.raises(ValueError, match="`class_weight` and `sample_weight` at the same"):
        model.train_on_batch(x, labels, sample_weight=np.ones(6), class_weight={0: 1.0})


def test_run_eagerly_runs_the_traced_custom_step_on_the_reference():
    x, y = _regression(12)
    histories = []
    for eager in (False, True):
        inputs = gn.Input(shape=(6,))
        model = CustomModel(inputs, gn.layers.Dense(1)(inputs))
        model.set_weights([np.full((6, 1), 0.2, "float32"), np.zeros(1, "float32")])
        model.compile(optimizer=gn.optimizers.SGD(0.05), run_eagerly=eager)
        histories.append(model.fit(x, y, batch_size=4, epochs=1, shuffle=False,
                                   verbose=0).history)
    assert model._step_fns and all(fn.backend == "reference"
                                   for fn in model._step_fns.values())
    _close([histories[0]["loss"], histories[0]["mae"]],
           [histories[1]["loss"], histories[1]["mae"]])


def test_predict_with_a_custom_predict_step_calls_the_callbacks():
    class Halved(OneDense):
        def predict_step(self, data):
            return self(data) * 0.5

    seen = []

    class Record(gn.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(logs["outputs"].shape)
    x, _ = _regression(10)
    model = Halved()
    out = model.predict(x, batch_size=4, verbose=0, callbacks=[Record()])
    assert seen == [(4, 1), (4, 1), (2, 1)]
    dense = x @ model.dense.kernel.numpy() + model.dense.bias.numpy()
    np.testing.assert_allclose(out, 0.5 * dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), out, rtol=1e-6)


def test_a_custom_train_step_receives_dict_inputs_as_given():
    class Pair(gn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gn.layers.Dense(1)
            self.received = None

        def train_step(self, data):
            x, y = data
            self.received = {k: v.shape for k, v in x.items()}
            pred = self.dense(gn.ops.concatenate([x["a"], x["b"]], axis=1))
            return {"loss": gn.ops.mean(gn.ops.square(pred - y))}

    rng = np.random.default_rng(1)
    x = {"b": rng.normal(size=(6, 3)).astype("float32"),
         "a": rng.normal(size=(6, 2)).astype("float32")}
    y = rng.normal(size=(6, 1)).astype("float32")
    model = Pair()
    model.compile(optimizer="sgd")
    logs = model.train_on_batch(x, y, return_dict=True)
    assert model.received == {"b": (None, 3), "a": (None, 2)}
    pred = np.concatenate([x["a"], x["b"]], axis=1) @ model.dense.kernel.numpy() + \
        model.dense.bias.numpy()
    np.testing.assert_allclose(logs["loss"], np.mean((pred - y) ** 2), rtol=1e-5)


def test_a_custom_train_step_trains_on_a_generator_of_inputs_alone():
    class MeanOutput(OneDense):
        def train_step(self, data):      # data is x alone: the source yields (x,)
            with gn.GradientTape() as tape:
                loss = gn.ops.mean(gn.ops.square(self(data, training=True)))
            self.optimizer.apply(tape.gradient(loss, self.trainable_weights),
                                 self.trainable_weights)
            return {"loss": loss}

    rng = np.random.default_rng(9)
    batches = [rng.normal(size=(4, 6)).astype("float32") for _ in range(3)]
    model = MeanOutput()
    model.compile(optimizer=gn.optimizers.SGD(0.1))
    history = model.fit(((b,) for b in batches), epochs=1, shuffle=False, verbose=0)
    last = batches[-1] @ model.dense.kernel.numpy() + model.dense.bias.numpy()
    assert history.history["loss"][0] > np.mean(last ** 2)   # the last step lowered it


def test_a_custom_predict_step_refuses_another_backend():
    class Same(OneDense):
        def predict_step(self, data):
            return self(data)

    with pytest.raises(ValueError, match="backend compile chose \\('c'\\).*got 'reference'"):
        Same().predict(np.zeros((2, 6), "float32"), backend="reference")


def test_a_saved_functional_custom_model_loads_with_its_train_step(tmp_path):
    x, y = _regression(8)
    inputs = gn.Input(shape=(6,))
    model = CustomModel(inputs, gn.layers.Dense(1)(inputs))
    model.compile(optimizer=gn.optimizers.SGD(0.05))
    model.fit(x, y, batch_size=4, verbose=0)
    model.save(tmp_path / "custom.graphnet")
    loaded = gn.models.load_model(tmp_path / "custom.graphnet",
                                  custom_objects={"CustomModel": CustomModel})
    assert type(loaded) is CustomModel
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert set(loaded.fit(x, y, batch_size=4, verbose=0).history) == {"loss", "mae"}
    assert loaded.traced == 1
