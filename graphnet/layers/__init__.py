"""``gn.layers``: Keras's layers by name."""
from ..engine.base_layer import Layer, layer_registry
from ..engine.input_layer import Input, InputLayer  # noqa: F401
from ..engine.input_spec import InputSpec  # noqa: F401
from ..engine.model import Model
from ..engine.sequential import Sequential  # noqa: F401
from .core import Activation, Dense, Dropout  # noqa: F401
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU  # noqa: F401
from .lambda_layer import Lambda  # noqa: F401
from .embedding import Embedding  # noqa: F401
from .recurrent import GRU, LSTM, SimpleRNN  # noqa: F401
from .rnn import RNN  # noqa: F401
from .rnn_dropout import DropoutRNNCell  # noqa: F401
from .rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells  # noqa: F401
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D  # noqa: F401
from .bidirectional import Bidirectional  # noqa: F401
from .einsum_dense import EinsumDense  # noqa: F401
from .attention import MultiHeadAttention  # noqa: F401
from .grouped_query_attention import GroupedQueryAttention, GroupQueryAttention  # noqa: F401
from .sequence_attention import AdditiveAttention, Attention  # noqa: F401
from .wrappers import TimeDistributed, Wrapper  # noqa: F401
from .feature_preprocessing import Normalization, Rescaling  # noqa: F401
from .discretization import Discretization  # noqa: F401
from .image_preprocessing import (CenterCrop, RandomBrightness, RandomContrast,  # noqa: F401
                                  RandomCrop, RandomFlip, Resizing)
from .affine_augmentation import RandomRotation, RandomTranslation, RandomZoom  # noqa: F401
from .masking import Masking  # noqa: F401
from .preprocessing import (CategoryEncoding, Hashing, IntegerLookup,  # noqa: F401
                            StringLookup, TextVectorization)
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,  # noqa: F401
                      Subtract, add, average, concatenate, dot, maximum, minimum, multiply,
                      subtract)
from .reshaping import Flatten, Permute, RepeatVector, Reshape  # noqa: F401
from .convolutional import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose,  # noqa: F401
                            Conv3D, Conv3DTranspose, Convolution1D, Convolution2D,
                            Convolution2DTranspose, Convolution3D, Convolution3DTranspose,
                            DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                            SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D,  # noqa: F401
                      AvgPool1D, AvgPool2D, AvgPool3D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D,
                      GlobalMaxPool3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D, MaxPooling1D,
                      MaxPooling2D, MaxPooling3D)
from .normalization import BatchNormalization, LayerNormalization  # noqa: F401
from .normalization import GroupNormalization, RMSNormalization, UnitNormalization  # noqa: F401
from .identity import Identity  # noqa: F401
from .noise import (AlphaDropout, GaussianDropout, GaussianNoise,  # noqa: F401
                    SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)
from .resizing import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D,  # noqa: F401
                       UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D,
                       ZeroPadding3D)

layer_registry.alias("Functional", Model)
layer_registry.alias("GroupQueryAttention", GroupedQueryAttention)


def serialize(layer):
    from ..engine.serialize import serialize_layer
    return serialize_layer(layer)


def deserialize(config, custom_objects=None):
    from ..engine.serialize import deserialize_layer
    return deserialize_layer(config, custom_objects)


def get(identifier):
    if isinstance(identifier, Layer):
        return identifier
    return deserialize(identifier)
