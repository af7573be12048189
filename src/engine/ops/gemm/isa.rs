//! Which micro-kernel runs: the instruction sets there are, and the proof ([`Isa`]) that
//! this CPU has the one chosen.

/// The instruction set the micro-kernel uses, and proof that this CPU has it: its
/// field is private, and the only ways to get one ([`Isa::detect`], [`Isa::available`])
/// ask the CPU first (or, for NEON, the compile target, whose baseline has it). So no
/// safe call can reach an instruction the CPU lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(Kernel);

/// The micro-kernels there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Avx512,
    Avx2Fma,
    Neon,
    Portable,
}

impl Isa {
    /// The fastest instruction set this CPU runs.
    pub fn detect() -> Isa {
        Isa::available()
            .last()
            .copied()
            .unwrap_or(Isa(Kernel::Portable))
    }

    /// Every instruction set this CPU can run, slowest (the portable fallback) first.
    pub fn available() -> Vec<Isa> {
        [
            Kernel::Portable,
            Kernel::Neon,
            Kernel::Avx2Fma,
            Kernel::Avx512,
        ]
        .into_iter()
        .filter(|&kernel| supported(kernel))
        .map(Isa)
        .collect()
    }

    /// `kernel`, when this CPU runs it.
    pub fn of(kernel: Kernel) -> Option<Isa> {
        supported(kernel).then_some(Isa(kernel))
    }

    pub fn kernel(self) -> Kernel {
        self.0
    }

    /// Rows of a full weight panel (output channels per tile).
    pub fn mr(self) -> usize {
        match self.0 {
            Kernel::Avx512 | Kernel::Neon => 8,
            Kernel::Avx2Fma => 6,
            Kernel::Portable => 4,
        }
    }

    /// Rows packed in the weight panel that starts with `left` rows still to pack: the
    /// AVX2 kernel comes in every height up to 6, so its last panel holds only the rows
    /// left (a 15-row squeeze computes 15 rows, not 18); the others pad to `mr`.
    pub(super) fn panel_width(self, left: usize) -> usize {
        match self.0 {
            Kernel::Avx2Fma => left.min(self.mr()),
            Kernel::Avx512 | Kernel::Neon | Kernel::Portable => self.mr(),
        }
    }

    /// The weight panels of a `rows`-row matrix: first row and packed width of each.
    pub(super) fn panel_spans(self, rows: usize) -> impl Iterator<Item = (usize, usize)> {
        let mut first_row = 0;
        std::iter::from_fn(move || {
            let width = (first_row < rows).then(|| self.panel_width(rows - first_row))?;
            first_row += width;
            Some((first_row - width, width))
        })
    }

    /// Columns of the pixel panel (pixels per tile).
    pub fn nr(self) -> usize {
        match self.0 {
            Kernel::Avx512 => 48,
            Kernel::Avx2Fma | Kernel::Portable => 16,
            Kernel::Neon => 12,
        }
    }
}

/// Whether this CPU has the instructions `kernel` uses.
fn supported(kernel: Kernel) -> bool {
    match kernel {
        Kernel::Portable => true,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => std::is_x86_feature_detected!("avx512f"),
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2Fma | Kernel::Avx512 => false,
        // Part of the target's baseline on aarch64 (the compiler emits it everywhere
        // already), so there is nothing to ask the CPU.
        Kernel::Neon => cfg!(all(target_arch = "aarch64", target_feature = "neon")),
    }
}
