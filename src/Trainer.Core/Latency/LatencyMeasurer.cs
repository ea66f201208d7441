using TorchSharp.Modules;
using Trainer.Core.Inference;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// Times pieces standalone (batch 1, inference mode) over their width grids, then the whole model against every
/// piece at full width, in alternating rounds. Each piece shape's grid is timed in one batch of alternating rounds and
/// rescaled so its full-width time equals the one from the final batch, which puts every piece on the same time base
/// as the whole model; the model's fixed rest is the whole model's time minus the pieces' full-width times. The engine
/// (<see cref="LatencyTableOptions.Engine"/>) decides what runs: TorchSharp's ops in inference mode, or each piece exported
/// and run in ONNX Runtime (<see cref="OnnxPieceJob"/>).
/// </summary>
internal static class LatencyMeasurer
{
    /// <summary>One piece at one width pair, ready to be timed.</summary>
    internal interface ITimedPiece : IDisposable
    {
        /// <summary>One forward pass of the piece.</summary>
        void Run();
    }

    /// <summary>Milliseconds per piece signature (grid [in][out]), and the whole model's time (the options' quantile of the rounds),
    /// timed in the options' engine.</summary>
    public static (Dictionary<string, double[][]> Grids, double FullMs) Measure(nn.Module<Tensor, Tensor> model, long[] inputShape,
        IReadOnlyList<LatencyPiece> pieces, LatencyTableOptions options)
    {
        // Random inputs and weights from a generator of its own: measuring never moves torch's global generator, which a
        // run's training draws from (a run that reuses a cached table then draws the same numbers as the run that measured it).
        using var generator = new Generator(0);
        using var evalMode = new Models.EvalModeScope(model);
        if (options.Engine == LatencyEngine.OnnxRuntime)
        {
            int threads = options.EffectiveOnnxThreads;
            // The whole model first: a model the exporter cannot write fails before any piece is timed.
            using var whole = OnnxPieceJob.Whole(model, inputShape, threads);
            return Measure(pieces, options, (piece, kin, kout) => new OnnxPieceJob(piece, kin, kout, threads), whole.Run);
        }
        using var mode = inference_mode();
        using var input = randn(inputShape, generator: generator);
        return Measure(pieces, options, (piece, kin, kout) => new Job(piece, kin, kout, options.Layout, generator), () =>
        {
            // A scope per pass: a user model's intermediates are freed at once, as in the model's real use.
            using var pass = NewDisposeScope();
            model.call(input);
        });
    }

    /// <summary>
    /// The grids of <paramref name="pieces"/> (one batch of alternating rounds per piece shape), then <paramref name="whole"/>
    /// against every piece shape at full width, and every grid rescaled to that final batch.
    /// </summary>
    private static (Dictionary<string, double[][]> Grids, double FullMs) Measure(IReadOnlyList<LatencyPiece> pieces,
        LatencyTableOptions options, Func<LatencyPiece, int, int, ITimedPiece> newJob, Action whole)
    {
        var unique = pieces.GroupBy(p => p.Signature).Select(g => g.First()).ToList();
        var grids = new Dictionary<string, double[][]>();
        foreach (var piece in unique)
        {
            var jobs = new List<ITimedPiece>();
            try
            {
                foreach (var kin in piece.InCounts)
                    foreach (var kout in piece.OutCounts)
                        jobs.Add(newJob(piece, kin, kout));
                var ms = AlternatingTimer.QuantileMs(jobs.Select(j => (Action)j.Run).ToList(), options.Rounds, options.Quantile, warmupRounds: 1, callsPerRound: 2);
                grids[piece.Signature] = piece.InCounts.Select((_, i) => ms.Skip(i * piece.OutCounts.Length).Take(piece.OutCounts.Length).ToArray()).ToArray();
            }
            finally
            {
                foreach (var job in jobs) job.Dispose();
            }
        }

        // Final batch: the whole model against every piece shape at full width, alternating.
        var finals = new List<ITimedPiece>();
        try
        {
            foreach (var p in unique) finals.Add(newJob(p, p.InCounts[^1], p.OutCounts[^1]));
            var actions = new List<Action> { whole };
            actions.AddRange(finals.Select(j => (Action)j.Run));
            var ms = AlternatingTimer.QuantileMs(actions, Math.Max(options.Rounds, 7), options.Quantile, warmupRounds: 2);
            for (int i = 0; i < unique.Count; i++)
            {
                var grid = grids[unique[i].Signature];
                double scale = grid[^1][^1] > 0 ? ms[i + 1] / grid[^1][^1] : 1;
                foreach (var row in grid)
                    for (int j = 0; j < row.Length; j++) row[j] *= scale;
            }
            return (grids, ms[0]);
        }
        finally
        {
            foreach (var job in finals) job.Dispose();
        }
    }

    /// <summary>One piece at one (input, output) width: its own random input and weights, run through the same ops as the model.</summary>
    private sealed class Job : ITimedPiece
    {
        private readonly LatencyPiece piece;
        private readonly Tensor input, weight;
        private readonly Tensor? bias, mean, variance, gamma, beta;

        public Job(LatencyPiece piece, int inCount, int outCount, MemoryLayout layout, Generator generator)
        {
            this.piece = piece;
            long inWidth = inCount * piece.InBlock;
            var shape = piece.Producer.InputShape.ToArray();
            shape[1] = inWidth;
            Tensor Normal(params long[] size) => randn(size, generator: generator);
            Tensor Uniform(params long[] size) => rand(size, generator: generator);
            if (piece.Module is Conv2d conv)
            {
                input = Normal(shape);
                weight = Normal(outCount, inWidth, conv.kernel_size[0], conv.kernel_size[1]).mul_(0.05);
                if (conv.bias is not null) bias = Normal(outCount);
                // The model keeps a conv NCHW where channels-last is wrong on this CPU (ChannelsLastGuard): so is its piece.
                if (layout == MemoryLayout.ChannelsLast && ChannelsLastIsRight(conv))
                {
                    input = Swap(input, ChannelsLast.Convert(input));
                    weight = Swap(weight, ChannelsLast.Convert(weight));
                }
            }
            else
            {
                shape[^1] = inWidth;
                input = Normal(shape);
                weight = Normal(outCount, inWidth).mul_(0.05);
                if (((Linear)piece.Module).bias is not null) bias = Normal(outCount);
            }
            if (piece.Norm is not null)
            {
                mean = Normal(outCount);
                variance = Uniform(outCount).add_(0.5);
                gamma = Uniform(outCount).add_(0.5);
                beta = Normal(outCount);
            }
        }

        private bool ChannelsLastIsRight(Conv2d conv)
        {
            using var scope = NewDisposeScope();
            using var mode = inference_mode();
            Tensor Run(Tensor x, Tensor w, Tensor? b) => Models.ConvCall.Forward(conv, x, w, b);
            var last = Run(ChannelsLast.Convert(input), ChannelsLast.Convert(weight), bias);
            return Runtime.ConvReference.Check(Run, input, weight, bias, last).Excess <= 1;
        }

        public void Run()
        {
            using var scope = NewDisposeScope();
            var y = piece.Module is Conv2d conv
                ? conv.padding_type is { } padding
                    ? nn.functional.conv2d_padding(input, weight, bias, conv.stride, padding, conv.dilation)
                    : nn.functional.conv2d(input, weight, bias, conv.stride, conv.padding, conv.dilation)
                : nn.functional.linear(input, weight, bias);
            if (piece.Norm is { } norm) y = nn.functional.batch_norm(y, mean, variance, gamma, beta, training: false, eps: norm.eps);
            foreach (var (_, module) in piece.Trailing) y = ((nn.Module<Tensor, Tensor>)module).call(y);
        }

        public void Dispose()
        {
            input.Dispose();
            weight.Dispose();
            bias?.Dispose();
            mean?.Dispose();
            variance?.Dispose();
            gamma?.Dispose();
            beta?.Dispose();
        }

        private static Tensor Swap(Tensor old, Tensor replacement)
        {
            old.Dispose();
            return replacement;
        }
    }
}
