using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Trainer.Core.Runtime;

/// <summary>
/// Tunes glibc's allocator, which libtorch's CPU tensors come from. By default glibc hands every
/// block above a dynamic threshold straight back to the kernel when it is freed, so each training
/// step maps, faults in and unmaps its activation buffers again: a large share of CPU time goes
/// to page faults. Raising the mmap and trim thresholds keeps freed blocks in the heap for the next
/// step to reuse. Measured on the Fashion CNN (2 threads): training about 1.2x and evaluation about
/// 2x faster, at the same peak memory.
/// </summary>
public static class NativeAllocator
{
    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_THRESHOLD = -3;
    private const int Threshold = 1 << 30;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    /// <summary>Keeps freed tensor memory in the process for reuse. Returns false where not applicable (not glibc).</summary>
    public static bool KeepFreedMemoryForReuse(ILogger? logger = null)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            var ok = Mallopt(M_MMAP_THRESHOLD, Threshold) == 1 & Mallopt(M_TRIM_THRESHOLD, Threshold) == 1;
            logger?.LogDebug("glibc mallopt thresholds raised: {Ok}.", ok);
            return ok;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            logger?.LogDebug("mallopt is not available ({Message}); allocator left as it is.", e.Message);
            return false;
        }
    }
}
