//! CPU and memory use of this machine, for the `resource` strategy and `health`.

/// Samples CPU use between calls (from `/proc/stat`) and memory use (from `/proc/meminfo`).
/// On systems without `/proc` both read as zero.
#[derive(Debug, Default)]
pub struct LoadSampler {
    last: Option<(u64, u64)>,
}

impl LoadSampler {
    /// A sampler; the first CPU reading covers the time since boot.
    pub fn new() -> Self {
        Self::default()
    }

    /// CPU and memory use, each from 0.0 to 1.0.
    pub fn sample(&mut self) -> (f64, f64) {
        let cpu = match (read_cpu(), self.last) {
            (Some((busy, total)), Some((b0, t0))) if total > t0 => {
                self.last = Some((busy, total));
                (busy - b0) as f64 / (total - t0) as f64
            }
            (Some((busy, total)), _) => {
                self.last = Some((busy, total));
                if total == 0 { 0.0 } else { busy as f64 / total as f64 }
            }
            (None, _) => 0.0,
        };
        (cpu.clamp(0.0, 1.0), read_memory().unwrap_or(0.0))
    }
}

/// (busy, total) jiffies from the first line of `/proc/stat`.
fn read_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu(stat.lines().next()?)
}

fn parse_cpu(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// The fraction of memory in use, from `/proc/meminfo`.
fn read_memory() -> Option<f64> {
    parse_memory(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_memory(meminfo: &str) -> Option<f64> {
    let field = |name: &str| -> Option<f64> {
        meminfo.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| (1.0 - available / total).clamp(0.0, 1.0))
}

/// CPU time (user and system) this process has used, in seconds, from `/proc/self/stat`.
pub fn process_cpu_seconds() -> Option<f64> {
    parse_process_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn parse_process_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // /proc counts in USER_HZ clock ticks, 100 a second on Linux.
    Some((user + system) as f64 / 100.0)
}

/// This process's resident memory in bytes, from `/proc/self/status`.
pub fn process_rss_bytes() -> Option<u64> {
    parse_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_rss(status: &str) -> Option<u64> {
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(parse_cpu("cpu  100 0 50 800 50 0 0 0 0 0"), Some((150, 1000)));
        assert_eq!(parse_cpu("intr 1 2 3"), None);
        let m = parse_memory("MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable:    250 kB\n")
            .unwrap();
        assert!((m - 0.75).abs() < 1e-9);
        assert_eq!(parse_memory("nothing"), None);
        let stat = "42 (beach node) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0";
        assert_eq!(parse_process_cpu(stat), Some(3.0));
        assert_eq!(parse_rss("Name: x\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        assert!(process_cpu_seconds().is_some() && process_rss_bytes().unwrap() > 0);
    }

    #[test]
    fn samples_are_fractions() {
        let mut s = LoadSampler::new();
        for _ in 0..2 {
            let (cpu, mem) = s.sample();
            assert!((0.0..=1.0).contains(&cpu) && (0.0..=1.0).contains(&mem));
        }
    }
}
