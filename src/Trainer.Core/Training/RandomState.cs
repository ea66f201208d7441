using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>Captures and restores torch's global random generator, so resumed runs draw the same numbers.</summary>
internal static class RandomState
{
    public static byte[] Capture()
    {
        using var state = torch.random.get_rng_state();
        return state.data<byte>().ToArray();
    }

    /// <summary>Restores the generator as it is now when disposed: for work that builds throwaway modules (their random
    /// initial weights would otherwise move the generator, and a run that skips such work would draw other numbers).</summary>
    public static IDisposable Preserve() => new Preserved(Capture());

    private sealed class Preserved(byte[] state) : IDisposable
    {
        public void Dispose() => Restore(state);
    }

    public static void Restore(byte[] bytes)
    {
        using var state = torch.tensor(bytes, torch.ScalarType.Byte);
        torch.random.set_rng_state(state);
    }
}
