//! Choosing where a model runs: CPU by default, CUDA or Metal when built in and present,
//! and a clear message plus a CPU fallback when they are not.

use std::str::FromStr;

use candle_core::Device;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA or Metal when this build has them and a device answers; otherwise the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            "metal" => Ok(DeviceChoice::Metal),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(i)) => Ok(DeviceChoice::Cuda(i)),
                _ => Err(format!("unknown device `{s}` (expected auto, cpu, cuda, cuda:N or metal)")),
            },
        }
    }
}

/// The device to use, and a warning when the one asked for could not be had.
pub fn select(choice: DeviceChoice) -> (Device, Option<String>) {
    match choice {
        DeviceChoice::Cpu => (Device::Cpu, None),
        DeviceChoice::Auto => {
            // A GPU build that finds no GPU says so once; a CPU-only build has nothing to say.
            let mut reasons = Vec::new();
            if cfg!(feature = "cuda") {
                match open_cuda(0) {
                    Ok(d) => return (d, None),
                    Err(why) => reasons.push(format!("no CUDA device ({why})")),
                }
            }
            if cfg!(feature = "metal") {
                match open_metal() {
                    Ok(d) => return (d, None),
                    Err(why) => reasons.push(format!("no Metal device ({why})")),
                }
            }
            let warning =
                (!reasons.is_empty()).then(|| format!("this build can use a GPU, but found {}; running on the CPU", reasons.join(", ")));
            (Device::Cpu, warning)
        }
        DeviceChoice::Cuda(i) => match open_cuda(i) {
            Ok(d) => (d, None),
            Err(why) => (Device::Cpu, Some(format!("CUDA device {i} unavailable ({why}); running on the CPU"))),
        },
        DeviceChoice::Metal => match open_metal() {
            Ok(d) => (d, None),
            Err(why) => (Device::Cpu, Some(format!("Metal unavailable ({why}); running on the CPU"))),
        },
    }
}

/// Sets candle's CPU thread count to `requested` (default: candle's own choice, every physical
/// core, unless `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS` is set). Takes effect only before the
/// first tensor operation of the process. On a quiet 2-core machine two threads decode the tiny
/// Q8_0 model 1.8x faster than one (BENCHMARKS.md), so there is no size-based shortcut.
pub fn configure_cpu_threads(requested: Option<usize>) {
    if let Some(n) = requested {
        std::env::set_var("CANDLE_NUM_THREADS", n.max(1).to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
    }
}

pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Free bytes on a CUDA device; `None` for the CPU and Metal (no memory query).
pub fn free_memory(device: &Device) -> Option<u64> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        return cuda.cuda_stream().context().mem_get_info().ok().map(|(free, _total)| free as u64);
    }
    let _ = device;
    None
}

pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", cpu_threads()),
        Device::Cuda(_) => "cuda".to_string(),
        Device::Metal(_) => "metal".to_string(),
    }
}

fn open_cuda(ordinal: usize) -> Result<Device, String> {
    if !cfg!(feature = "cuda") {
        return Err("this build has no CUDA support; rebuild with `--features cuda`".into());
    }
    // The dlopen build (scripts/build-cuda.sh) panics inside cudarc when the driver or a CUDA
    // library is missing; that must not take the daemon down.
    match quiet_catch(|| Device::new_cuda(ordinal)) {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(first_line(&e.to_string())),
        Err(why) => Err(why),
    }
}

fn open_metal() -> Result<Device, String> {
    if !cfg!(feature = "metal") {
        return Err("this build has no Metal support; rebuild with `--features metal`".into());
    }
    match quiet_catch(|| Device::new_metal(0)) {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(first_line(&e.to_string())),
        Err(why) => Err(why),
    }
}

/// Runs `f`, turning a panic into its one-line reason without printing it: the caller reports it.
/// The panic hook is process-wide, so it is silenced only for the duration of the call.
fn quiet_catch<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    out.map_err(|payload| panic_reason(payload.as_ref()))
}

fn panic_reason(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("the GPU runtime failed to start");
    // cudarc: `Unable to dynamically load the "cuda" shared library - searched for library names: [...]`
    match text.split_once(" shared library - searched") {
        Some((head, _)) if head.ends_with("\"cuda\"") => "the CUDA driver (libcuda.so) is not installed".to_string(),
        Some((head, _)) => format!("{} library is not installed", head.replace("Unable to dynamically load the ", "the CUDA ")),
        None => first_line(text),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices_and_falls_back_to_cpu() {
        assert_eq!("cuda:1".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(1)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        if !cfg!(feature = "cuda") {
            let (device, warning) = select(DeviceChoice::Cuda(0));
            assert!(device.is_cpu());
            assert!(warning.unwrap().contains("--features cuda"));
            assert_eq!(select(DeviceChoice::Auto).1, None, "a CPU-only build has no GPU to miss");
        }
    }

    #[test]
    fn names_the_missing_cuda_library() {
        let missing = |lib: &str| -> Box<dyn std::any::Any + Send> {
            Box::new(format!(
                "Unable to dynamically load the \"{lib}\" shared library - searched for library names: [\"libcuda.so\"]. Ensure..."
            ))
        };
        assert_eq!(panic_reason(missing("cuda").as_ref()), "the CUDA driver (libcuda.so) is not installed");
        assert_eq!(panic_reason(missing("cublas").as_ref()), "the CUDA \"cublas\" library is not installed");
        assert_eq!(panic_reason(&"boom\nbacktrace"), "boom");
        assert_eq!(quiet_catch(|| -> u8 { panic!("no device") }), Err("no device".to_string()));
    }
}
