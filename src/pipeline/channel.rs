//! "Latest wins" hand-over between threads: a channel of capacity 1 where a new item
//! replaces one nobody has taken yet. Nothing ever queues behind a slow consumer.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// Both ends of a latest-wins slot; the producer keeps a receiver to evict stale items.
pub struct LatestSender<T> {
    tx: Sender<T>,
    evict: Receiver<T>,
}

impl<T> Clone for LatestSender<T> {
    fn clone(&self) -> Self {
        LatestSender {
            tx: self.tx.clone(),
            evict: self.evict.clone(),
        }
    }
}

/// What became of an offered item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Delivered into an empty slot.
    Sent,
    /// Delivered, and the older item waiting in the slot was dropped.
    Replaced,
}

pub fn latest<T>() -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = bounded(1);
    (
        LatestSender {
            tx,
            evict: rx.clone(),
        },
        rx,
    )
}

impl<T> LatestSender<T> {
    /// Puts `item` in the slot, dropping the one there if the consumer has not taken it.
    pub fn offer(&self, item: T) -> Offer {
        let mut item = item;
        let mut replaced = false;
        // One producer per slot at a time, so this settles in at most two rounds;
        // the bound only guards against misuse.
        for _ in 0..8 {
            match self.tx.try_send(item) {
                Ok(()) => {
                    return if replaced {
                        Offer::Replaced
                    } else {
                        Offer::Sent
                    };
                }
                // The producer holds a receiver itself, so the slot never disconnects;
                // threads learn to stop from their stop signal instead.
                Err(TrySendError::Disconnected(_)) => return Offer::Sent,
                Err(TrySendError::Full(back)) => {
                    item = back;
                    // The consumer may take it meanwhile; then nothing was dropped.
                    replaced |= self.evict.try_recv().is_ok();
                }
            }
        }
        Offer::Replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_item_wins() {
        let (tx, rx) = latest();
        assert_eq!(tx.offer(1), Offer::Sent);
        assert_eq!(tx.offer(2), Offer::Replaced);
        assert_eq!(tx.offer(3), Offer::Replaced);
        assert_eq!(rx.try_recv().ok(), Some(3));
        assert!(rx.try_recv().is_err());
        assert_eq!(tx.offer(4), Offer::Sent);
    }
}
