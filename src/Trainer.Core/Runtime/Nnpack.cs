namespace Trainer.Core.Runtime;

/// <summary>
/// Keeps libtorch from trying NNPACK on CPUs NNPACK does not support. libtorch 2.10 asks NNPACK on every small-batch
/// NCHW conv that oneDNN does not take (e.g. one input channel), and where <c>nnp_initialize</c> fails (seen on AMD Zen 5
/// VMs: "Unsupported hardware") it prints <c>Could not initialize NNPACK!</c> on every such call: thousands of lines in
/// one job. PyTorch's switch is <c>torch.backends.nnpack.set_flags(False)</c>; it is checked before NNPACK is
/// initialised. This asks NNPACK itself (silently) and only where it is unsupported turns libtorch's flag off; where
/// NNPACK works nothing changes.
/// </summary>
public static class Nnpack
{
    /// <summary>What was found and done, e.g. "NNPACK unsupported on this CPU (status 51): disabled in libtorch".</summary>
    public static string Status { get; private set; } = "not checked";

    /// <summary>Checks NNPACK and disables it where unsupported (idempotent; <see cref="LibTorchSetup"/> calls it first thing).</summary>
    public static void DisableWhereUnsupported()
    {
        Status = LibTorchContext.NnpackStatus() switch
        {
            null => "libtorch has no NNPACK: nothing to do",
            0 => "NNPACK supported on this CPU: left enabled",
            int status when LibTorchContext.SetNnpackEnabled(false) => $"NNPACK unsupported on this CPU (status {status}): disabled in libtorch",
            int status => $"NNPACK unsupported on this CPU (status {status}), libtorch's switch not found: left as it is",
        };
    }
}
