//! The weights packed once per engine into panels of a kernel's rows.

use super::isa::Isa;
use ndarray::ArrayView2;

/// A weight matrix packed for one instruction set, with its bias.
#[derive(Debug, Clone)]
pub struct PackedWeights {
    pub(super) isa: Isa,
    pub(super) rows: usize,
    pub(super) depth: usize,
    panels: Vec<f32>,
    pub(super) bias: Vec<f32>,
}

impl PackedWeights {
    /// `weight` is `rows x depth`; rows a panel pads with past the last are zero.
    pub fn new(isa: Isa, weight: ArrayView2<f32>, bias: &[f32]) -> PackedWeights {
        let (rows, depth) = weight.dim();
        let mut panels = Vec::with_capacity(rows.div_ceil(isa.mr()) * isa.mr() * depth);
        for (first_row, width) in isa.panel_spans(rows) {
            for k in 0..depth {
                for m in first_row..first_row + width {
                    panels.push(if m < rows { weight[[m, k]] } else { 0.0 });
                }
            }
        }
        PackedWeights {
            isa,
            rows,
            depth,
            panels,
            bias: bias.to_vec(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The kernel it is packed for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The weight panels in order.
    pub(super) fn row_panels(&self) -> impl Iterator<Item = RowPanel<'_>> {
        let spans = self.isa.panel_spans(self.rows);
        spans.scan(0, move |start, (first_row, width)| {
            let weights = &self.panels[*start..*start + width * self.depth];
            *start += width * self.depth;
            Some(RowPanel {
                first_row,
                rows: width.min(self.rows - first_row),
                width,
                weights,
            })
        })
    }
}

/// One panel of packed weights: `rows` output channels from `first_row` on, laid out
/// `[k][width]` (the rows and any padding; `width` as [`Isa::panel_width`] says).
pub(super) struct RowPanel<'a> {
    pub first_row: usize,
    pub rows: usize,
    pub width: usize,
    pub weights: &'a [f32],
}
