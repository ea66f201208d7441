using System.Diagnostics;

namespace Trainer.Core.Latency;

/// <summary>
/// Times several actions against each other in alternating rounds (each round runs every action once, in turn), so
/// drift of a shared machine touches all of them alike; the median per action is the figure to compare.
/// </summary>
public static class AlternatingTimer
{
    /// <summary>Median milliseconds per call of each action.</summary>
    /// <param name="actions">What to time; each call should do one unit of work (e.g. one forward pass).</param>
    /// <param name="rounds">Timed rounds (at least 1).</param>
    /// <param name="warmupRounds">Untimed rounds first (JIT, allocator and oneDNN primitive caches).</param>
    /// <param name="callsPerRound">Calls of each action per round; the round's time is divided by it.</param>
    public static double[] MedianMs(IReadOnlyList<Action> actions, int rounds, int warmupRounds = 2, int callsPerRound = 1) =>
        QuantileMs(actions, rounds, 0.5, warmupRounds, callsPerRound);

    /// <summary>The <paramref name="quantile"/> (0.5: median; lower: less sensitive to other processes, whose
    /// interference only ever adds time) of the milliseconds per call of each action over the rounds.</summary>
    /// <param name="actions">What to time.</param>
    /// <param name="rounds">Timed rounds (at least 1).</param>
    /// <param name="quantile">In [0, 1]; interpolated between the two nearest rounds.</param>
    /// <param name="warmupRounds">Untimed rounds first.</param>
    /// <param name="callsPerRound">Calls of each action per round.</param>
    public static double[] QuantileMs(IReadOnlyList<Action> actions, int rounds, double quantile, int warmupRounds = 2, int callsPerRound = 1)
    {
        if (!(quantile >= 0 && quantile <= 1)) throw new ArgumentOutOfRangeException(nameof(quantile), quantile, "must be in [0, 1]");
        ArgumentNullException.ThrowIfNull(actions);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(callsPerRound, 1);
        for (int w = 0; w < warmupRounds; w++)
            foreach (var action in actions) action();
        var samples = actions.Select(_ => new double[rounds]).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < actions.Count; i++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int c = 0; c < callsPerRound; c++) actions[i]();
                samples[i][r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / callsPerRound;
            }
        return samples.Select(x => Quantile(x, quantile)).ToArray();
    }

    /// <summary>
    /// Median milliseconds of one forward pass of each model on a random input of <paramref name="inputShape"/> (from a
    /// generator of its own: torch's global one is left as it was), the models in alternating rounds, each in eval mode (restored afterwards) and inference mode, every pass in its own dispose scope.
    /// </summary>
    /// <param name="models">The models to time.</param>
    /// <param name="inputShape">Input shape, batch included.</param>
    /// <param name="rounds">Timed rounds (at least 1).</param>
    /// <param name="callsPerRound">Forward passes of each model per round (small models: several, against timer resolution).</param>
    /// <param name="warmupRounds">Untimed rounds first.</param>
    public static double[] ForwardMs(IReadOnlyList<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>> models,
        long[] inputShape, int rounds, int callsPerRound = 3, int warmupRounds = 2)
    {
        ArgumentNullException.ThrowIfNull(models);
        var modes = models.Select(m => new Models.EvalModeScope(m)).ToList();
        try
        {
            // Its own generator: timing never moves the global one, which a run's training draws from (a run that reuses a
            // cached measurement then draws the same numbers as the run that measured).
            using var generator = new TorchSharp.torch.Generator(0);
            using var input = TorchSharp.torch.randn(inputShape, generator: generator);
            return MedianMs(models.Select(m => (Action)(() =>
            {
                using var mode = TorchSharp.torch.inference_mode();
                using var pass = TorchSharp.torch.NewDisposeScope();
                m.call(input);
            })).ToList(), rounds, warmupRounds, callsPerRound);
        }
        finally
        {
            foreach (var mode in modes) mode.Dispose();
        }
    }

    /// <summary>The <paramref name="q"/>-quantile of <paramref name="values"/>, linear between order statistics.</summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        double position = q * (sorted.Length - 1);
        int lower = (int)Math.Floor(position);
        int upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }

    /// <summary>The median of <paramref name="values"/> (mean of the two middle values for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
