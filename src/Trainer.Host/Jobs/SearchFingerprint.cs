using System.Globalization;
using System.Security.Cryptography;
using Trainer.Core.Models;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>Everything a search trial's score depends on, as one line: the model and a hash of its weights, the task, the
/// search's settings. The search's journal starts with it, and every trial spec carries it: a process running a trial
/// recomputes it from the spec's configuration and refuses a spec whose fingerprint differs (a spec of another model).</summary>
public static class SearchFingerprint
{
    /// <summary>The fingerprint of a search of <paramref name="model"/> with <paramref name="task"/> and settings <paramref name="s"/>.</summary>
    public static string Of(LoadedModel model, string task, SearchOptions s) => string.Create(CultureInfo.InvariantCulture,
        $"{model.Name} weights {WeightsHash(model)}; task {task}; {s.Method} seed {s.Seed}; target {s.TargetFlopsRatio} floor {s.LayerFloor} round {s.RoundTo}; " +
        $"reward {s.Reward}; episodes {s.Episodes}/{s.WarmupEpisodes}; population {s.Population}x{s.Generations}; held-out {s.HeldOutSamples}");

    /// <summary>The parts of <paramref name="expected"/> that <paramref name="actual"/> does not have, for an error message.</summary>
    public static string Difference(string expected, string actual)
    {
        var have = actual.Split("; ").ToHashSet();
        var want = expected.Split("; ").Where(p => !have.Contains(p)).ToList();
        var got = actual.Split("; ").Except(expected.Split("; ")).ToList();
        return $"the spec was made for '{string.Join("; ", want)}' but its configuration loads '{string.Join("; ", got)}'";
    }

    /// <summary>First 16 hex digits of the SHA-256 over the state dict's names and bytes.</summary>
    public static string WeightsHash(LoadedModel model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in model.Network.state_dict())
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var cpu = tensor.detach().cpu().contiguous();
            hash.AppendData(cpu.bytes);
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16];
    }
}
