"""The C API's enum values and dtype codes, declared once.

csrc/graphnet.h's enum bodies are generated from these tables (and gn_kernel's from
graphnet/runtime/kernels.py) by ``python -m graphnet.runtime.kernel_codegen``;
tests/test_kernel_table.py checks the header is current. Pure Python, so the compiler and
the export verifier read enum values without the built extension.
"""

#: dtype name -> (enum gn_dtype code, C enumerator, bytes per element, C type)
DTYPES = {
    "float32": (0, "GN_F32", 4, "float"),
    "float64": (1, "GN_F64", 8, "double"),
    "int32": (2, "GN_I32", 4, "int32_t"),
    "int64": (3, "GN_I64", 8, "int64_t"),
    "uint8": (4, "GN_U8", 1, "uint8_t"),
    "bool": (5, "GN_BOOL", 1, "uint8_t"),
    "int8": (6, "GN_I8", 1, "int8_t"),
}
DTYPE_CODE = {name: code for name, (code, _, _, _) in DTYPES.items()}
DTYPE_SIZE = {code: size for code, _, size, _ in DTYPES.values()}

#: slot kinds (enum gn_slot), in code order
SLOT_KINDS = ("arena", "input", "output", "weight", "const")

# Each enum: C name -> [(enumerator, value) or a comment string placed before the next one].
ENUMS = {
    "gn_dtype": [(c_name, code) for code, c_name, _, _ in DTYPES.values()],
    "gn_unary_op": [(f"GN_U_{n}", i) for i, n in enumerate(
        "COPY NEG ABS SIGN SQUARE SQRT RSQRT RECIPROCAL EXP EXPM1 LOG LOG1P SIN COS TANH "
        "SIGMOID RELU LEAKY_RELU ELU SELU SOFTPLUS SOFTSIGN HARD_SIGMOID GELU GELU_TANH SILU "
        "ERF FLOOR CEIL ROUND CLIP AFFINE POW_SCALAR TAN ATAN HARD_SILU MISH RELU6 "
        "LOG_SIGMOID COUNT".split())],
    "gn_binary_op": [(f"GN_B_{n}", i) for i, n in enumerate(
        "ADD SUB MUL DIV POW MAXIMUM MINIMUM MOD FLOOR_DIV ATAN2".split())] + [
        "comparisons write uint8 (bool)"] + [(f"GN_B_{n}", 16 + i) for i, n in enumerate(
            "EQUAL NOT_EQUAL LESS LESS_EQUAL GREATER GREATER_EQUAL".split())] + [
        "logical ops read and write uint8"] + [
        (f"GN_B_LOGICAL_{n}", 24 + i) for i, n in enumerate(("AND", "OR", "XOR"))],
    "gn_reduce_op": [(f"GN_R_{n}", i) for i, n in enumerate(
        "SUM MEAN MAX MIN PROD ARGMAX ARGMIN SUMSQ ANY ALL".split())],
    "gn_random_dist": ["uniform in [a, b)", ("GN_RNG_UNIFORM", 0),
                       "normal with mean a, standard deviation b", ("GN_RNG_NORMAL", 1),
                       "b with probability a, else 0 (a dropout mask when b = 1/a)",
                       ("GN_RNG_BERNOULLI", 2)],
    "gn_conv_geom": [("GN_CG_N", 0), ("GN_CG_IN", 1), ("GN_CG_C", 4), ("GN_CG_OUT", 5),
                     ("GN_CG_O", 8), ("GN_CG_K", 9), ("GN_CG_STRIDE", 12), ("GN_CG_DIL", 15),
                     ("GN_CG_PAD", 18), ("GN_CG_GROUPS", 21), ("GN_CG_LEN", 22)],
    "gn_pool_mode": [("GN_POOL_MAX", 0), ("GN_POOL_AVG", 1)],
    "gn_affine_interpolation": [("GN_AFFINE_NEAREST", 0), ("GN_AFFINE_BILINEAR", 1)],
    "gn_fill_mode": [(f"GN_FILL_{n}", i) for i, n in enumerate(
        "CONSTANT NEAREST WRAP MIRROR REFLECT".split())],
    "gn_pool_limit": [("GN_POOL_MAX_TAPS", 1 << 20)],
    "gn_status": [("GN_OK", 0), "GATHER / SCATTER_ADD: an index outside [-n, n)",
                  ("GN_ERR_INDEX", 1), ("GN_ERR_NO_MEMORY", 2),
                  "arguments out of the kernel's range (nothing written)",
                  ("GN_ERR_BAD_ARGS", 3), ("GN_ERR_UNKNOWN_KERNEL", 4), ("GN_ERR_COUNT", 5)],
    "gn_slot": [(f"GN_SLOT_{kind.upper()}", code) for code, kind in enumerate(SLOT_KINDS)],
}


def enum_values(enum):
    """{enumerator: value} of one enum of ENUMS."""
    return dict(item for item in ENUMS[enum] if not isinstance(item, str))


#: every enumerator of ENUMS by name (kernel ids are in graphnet.runtime.kernels.KERNEL_IDS)
VALUES = {name: value for enum in ENUMS for name, value in enum_values(enum).items()}
