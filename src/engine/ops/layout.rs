//! How a CHW activation sits in its buffer: each channel plane carries a border of
//! zeros, as wide as the largest padding of the convolutions that read it, so a
//! stride-1 convolution can read its shifted inputs straight from the buffer.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLayout {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub border: usize,
}

/// Extra values after the last plane: a micro-kernel reading a whole panel of a
/// partial last row may run this far past the last interior pixel (the values are
/// never stored).
pub const SLACK: usize = 64;

impl BufferLayout {
    pub const fn new(channels: usize, height: usize, width: usize, border: usize) -> Self {
        BufferLayout {
            channels,
            height,
            width,
            border,
        }
    }

    pub fn row_stride(&self) -> usize {
        self.width + 2 * self.border
    }

    pub fn plane(&self) -> usize {
        (self.height + 2 * self.border) * self.row_stride()
    }

    /// Values to allocate, slack included.
    pub fn buffer_len(&self) -> usize {
        self.channels * self.plane() + SLACK
    }

    /// Offset of interior pixel (y, x) of channel c.
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        c * self.plane() + (y + self.border) * self.row_stride() + x + self.border
    }

    /// Interior pixels only, in CHW order.
    pub fn interior<'a>(&self, data: &'a [f32]) -> impl Iterator<Item = f32> + 'a {
        let layout = *self;
        (0..layout.channels).flat_map(move |c| {
            (0..layout.height).flat_map(move |y| {
                let start = layout.index(c, y, 0);
                data[start..start + layout.width].iter().copied()
            })
        })
    }
}
