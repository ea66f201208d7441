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

    public static void Restore(byte[] bytes)
    {
        using var state = torch.tensor(bytes, torch.ScalarType.Byte);
        torch.random.set_rng_state(state);
    }
}
