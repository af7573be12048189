//! Which int8 micro-kernel runs: the instruction sets there are, and the proof
//! ([`Int8Isa`]) that this CPU has the one chosen (as [`super::super::Isa`] is for fp32).

/// The int8 instruction set, and proof that this CPU has it: its field is private, and
/// the only ways to get one ([`Int8Isa::detect`], [`Int8Isa::available`],
/// [`Int8Isa::of`]) ask the CPU first. So no safe call can reach an instruction the
/// CPU lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int8Isa(Int8Kernel);

/// The int8 micro-kernels there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// Plain Rust: the reference the others are tested against.
    Portable,
    /// AVX2 without VNNI: `u8` and `i8` widened to `i16`, multiplied and summed in pairs
    /// by `vpmaddwd` (exact). Not `vpmaddubsw`, whose `i16` sum of two `u8 x i8`
    /// products saturates (255 x 127 x 2 > 32,767).
    Avx2,
    /// AVX-VNNI (Alder Lake and later laptops, Zen 5): `vpdpbusd` on 256-bit registers.
    AvxVnni,
    /// AVX512-VNNI (Ice Lake and later Xeons, Zen 4 and later): `vpdpbusd` on 512 bits.
    Avx512Vnni,
}

/// How a kernel reads the packed weights of one row and k-group (four taps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightWords {
    /// One `i32`: the four `i8` weights, as `vpdpbusd` broadcasts them.
    Dot4,
    /// Two `i32`, each a pair of `i16`: weights 0 and 2, then 1 and 3 (the even and odd
    /// bytes of a pixel's four channels, as `vpmaddwd` pairs them).
    Pairs,
}

impl Int8Isa {
    /// The fastest int8 kernel this CPU runs.
    pub fn detect() -> Int8Isa {
        Int8Isa::available()
            .last()
            .copied()
            .unwrap_or(Int8Isa(Int8Kernel::Portable))
    }

    /// Every int8 kernel this CPU can run, slowest (the portable one) first.
    pub fn available() -> Vec<Int8Isa> {
        [
            Int8Kernel::Portable,
            Int8Kernel::Avx2,
            Int8Kernel::AvxVnni,
            Int8Kernel::Avx512Vnni,
        ]
        .into_iter()
        .filter(|&kernel| supported(kernel))
        .map(Int8Isa)
        .collect()
    }

    /// `kernel`, when this CPU runs it.
    pub fn of(kernel: Int8Kernel) -> Option<Int8Isa> {
        supported(kernel).then_some(Int8Isa(kernel))
    }

    pub fn kernel(self) -> Int8Kernel {
        self.0
    }

    /// Rows of a weight panel (output channels per tile); the last panel pads to it.
    pub fn mr(self) -> usize {
        match self.0 {
            Int8Kernel::Avx512Vnni => 8,
            Int8Kernel::AvxVnni => 6,
            Int8Kernel::Avx2 | Int8Kernel::Portable => 4,
        }
    }

    /// Pixels of a column panel (pixels per tile).
    pub fn nr(self) -> usize {
        match self.0 {
            Int8Kernel::Avx512Vnni => 32,
            Int8Kernel::AvxVnni | Int8Kernel::Avx2 | Int8Kernel::Portable => 16,
        }
    }

    /// Whether it sums four products per lane in one instruction (VNNI): where int8
    /// is clearly faster than fp32.
    pub fn has_dot_products(self) -> bool {
        matches!(self.0, Int8Kernel::AvxVnni | Int8Kernel::Avx512Vnni)
    }

    pub(super) fn weight_words(self) -> WeightWords {
        match self.0 {
            Int8Kernel::Avx2 => WeightWords::Pairs,
            Int8Kernel::Portable | Int8Kernel::AvxVnni | Int8Kernel::Avx512Vnni => {
                WeightWords::Dot4
            }
        }
    }
}

/// Whether this CPU has the instructions `kernel` uses.
fn supported(kernel: Int8Kernel) -> bool {
    match kernel {
        Int8Kernel::Portable => true,
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx2 => std::is_x86_feature_detected!("avx2"),
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::AvxVnni => {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni")
        }
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx512Vnni => {
            std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        Int8Kernel::Avx2 | Int8Kernel::AvxVnni | Int8Kernel::Avx512Vnni => false,
    }
}
