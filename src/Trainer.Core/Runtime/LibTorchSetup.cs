using System.Runtime.CompilerServices;

namespace Trainer.Core.Runtime;

/// <summary>
/// Makes libtorch quiet and right on the CPU the process runs on, before any model of the process runs a convolution:
/// NNPACK off where it is unsupported (<see cref="Nnpack"/>), and oneDNN off where its convolutions are wrong
/// (<see cref="ConvKernels"/>, policy from <see cref="ConvKernels.PolicyVariable"/>). Runs once, on the first use of
/// Trainer.Core, so that every program built on it (the host, tests, examples, benchmarks, a user's own) gets it.
/// </summary>
public static class LibTorchSetup
{
    /// <summary>Problems met while setting up (e.g. a bad <see cref="ConvKernels.PolicyVariable"/>); empty when none.</summary>
    public static string Problem { get; private set; } = "";

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "It must precede any conv of any program built on Trainer.Core.")]
    internal static void Initialize()
    {
        try
        {
            Nnpack.DisableWhereUnsupported();
            ConvKernelPolicy policy;
            try
            {
                policy = ConvKernels.PolicyFromEnvironment();
            }
            catch (ArgumentException e)
            {
                Problem = e.Message;
                policy = ConvKernelPolicy.Auto;
            }
            ConvKernels.Apply(policy);
        }
        catch (Exception e)
        {
            // Never fatal here: a process that cannot load libtorch fails with TorchSharp's own error at its first tensor,
            // and anything else is reported by whoever reads Problem (the host logs it).
            Problem = $"libtorch setup skipped: {e.GetType().Name}: {e.Message}";
        }
    }
}
