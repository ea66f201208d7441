using Trainer.Abstractions;
using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.Schedules;

/// <summary>Four features seen as a 1×2×2 image: an 8-filter 2×2 conv (padding 1, so 3×3 outputs), BatchNorm, ReLU, a classifier.</summary>
internal sealed class TinyBnNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d conv;
    private readonly TorchSharp.Modules.BatchNorm2d bn;
    private readonly TorchSharp.Modules.Linear fc;

    public TinyBnNet() : base(nameof(TinyBnNet))
    {
        conv = nn.Conv2d(1, 8, 2, padding: 1);
        bn = nn.BatchNorm2d(8);
        fc = nn.Linear(72, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc.call(bn.call(conv.call(x.view(-1, 1, 2, 2))).relu().flatten(1));
}

/// <summary>
/// Registered before the pruning callback: computes, by its own arithmetic in double precision, each criterion's channel
/// scores for the conv over the same batches the callback should collect (the last <c>window</c> batches of each epoch),
/// and records them with the channels alive just before each epoch end.
/// </summary>
internal sealed class ScoreProbe : TrainerCallback, IDisposable
{
    private readonly ImportanceCriterion _criterion;
    private readonly nn.Module _conv;
    private readonly nn.Module _bn;
    private readonly int _window, _batchesPerEpoch;
    private readonly Action _remove;
    private double[,] _activation = new double[8, 9];
    private double[] _taylor = new double[8];
    private long _samples;
    private int _nextBatch;

    public ScoreProbe(TinyBnNet net, ImportanceCriterion criterion, int window, int batchesPerEpoch)
    {
        (_criterion, _window, _batchesPerEpoch) = (criterion, window, batchesPerEpoch);
        _conv = ScheduleTestKit.Child(net, "conv");
        _bn = ScheduleTestKit.Child(net, "bn");
        _remove = ((nn.Module<Tensor, Tensor>)_conv).register_forward_hook((m, _, output) =>
        {
            if (m.training && InWindow) AddActivation(output);
            return null!;
        }).remove;
    }

    public override string StateKey => "score-probe";

    /// <summary>By zero-based epoch: the scores and the alive channels at its end, before the pruning callback ran.</summary>
    public Dictionary<int, (double[] Scores, bool[] Alive)> EpochEnds { get; } = [];

    private bool InWindow => _nextBatch >= _batchesPerEpoch - _window;

    public override void OnEpochStart(ITrainingContext context)
    {
        _nextBatch = 0;
        _activation = new double[8, 9];
        _taylor = new double[8];
        _samples = 0;
    }

    public override void OnBeforeOptimizerStep(ITrainingContext context)
    {
        if (!InWindow) return;
        var w = ScheduleTestKit.Values(ScheduleTestKit.Orig(_conv, "weight"));
        var g = ScheduleTestKit.Values(_conv.get_parameter("weight_orig")!.grad!);
        for (int i = 0; i < w.Length; i++) _taylor[i / 4] += Math.Pow((double)w[i] * g[i], 2);
    }

    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome) => _nextBatch = outcome.BatchIndex + 1;

    public override void OnEpochEnd(ITrainingContext context)
    {
        var mask = ScheduleTestKit.Values(ScheduleTestKit.Mask(_conv, "weight"));
        var w = ScheduleTestKit.Values(ScheduleTestKit.Orig(_conv, "weight")).Select((v, i) => (double)v * mask[i]).ToArray();
        var rows = Enumerable.Range(0, 8).Select(c => w.Skip(4 * c).Take(4).ToArray()).ToArray();
        var alive = Enumerable.Range(0, 8).Select(c => mask.Skip(4 * c).Take(4).Any(m => m != 0)).ToArray();
        double PerPosition(int c, bool apoz) => Enumerable.Range(0, 9).Average(p => _activation[c, p] / _samples) is var mean && apoz ? 1 - mean : mean;
        var scores = _criterion switch
        {
            ImportanceCriterion.L1Norm => rows.Select(r => r.Sum(Math.Abs)).ToArray(),
            ImportanceCriterion.L2Norm => rows.Select(r => Math.Sqrt(r.Sum(v => v * v))).ToArray(),
            ImportanceCriterion.Fpgm => rows.Select(r => rows.Sum(o => Math.Sqrt(r.Zip(o, (a, b) => (a - b) * (a - b)).Sum()))).ToArray(),
            ImportanceCriterion.Slim => ScheduleTestKit.Values(_bn.get_parameter("weight")!).Select(v => Math.Abs((double)v)).ToArray(),
            ImportanceCriterion.Apoz => Enumerable.Range(0, 8).Select(c => PerPosition(c, apoz: true)).ToArray(),
            ImportanceCriterion.MeanActivation => Enumerable.Range(0, 8).Select(c => PerPosition(c, apoz: false)).ToArray(),
            _ => _taylor.ToArray(),
        };
        EpochEnds[context.Epoch] = (scores, alive);
    }

    private void AddActivation(Tensor output)
    {
        var values = ScheduleTestKit.Values(output); // [B, 8, 3, 3]
        var batch = output.shape[0];
        for (long b = 0; b < batch; b++)
            for (int c = 0; c < 8; c++)
                for (int p = 0; p < 9; p++)
                {
                    var relu = Math.Max(0, values[(b * 8 + c) * 9 + p]);
                    _activation[c, p] += _criterion == ImportanceCriterion.Apoz ? (relu == 0 ? 1 : 0) : relu;
                }
        _samples += batch;
    }

    public void Dispose() => _remove();
}
