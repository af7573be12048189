//! How much memory the run took at most: the kernel's high-water mark of resident
//! memory (Linux), for comparing engines.

/// This process's peak resident memory in MiB, where the system says (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The `VmHWM:` line of /proc/self/status, in MiB.
fn parse_vm_hwm(status: &str) -> Option<f64> {
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_water_mark_is_read_in_mib() {
        let status =
            "Name:\ttinyssd\nVmPeak:\t  400000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(50.0));
        assert_eq!(parse_vm_hwm("Name:\ttinyssd\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\tlots\n"), None);
    }
}
