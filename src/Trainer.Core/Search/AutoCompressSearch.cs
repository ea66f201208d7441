using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using Trainer.Core.Pruning.Admm;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>Settings of <see cref="AutoCompressSearch"/> (NNI v2.10's AutoCompressPruner: total_iteration, sa_params, admm_params).</summary>
public sealed record AutoCompressOptions
{
    /// <summary>Rounds of annealing then ADMM (NNI's total_iteration; its example: 3).</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>The annealing of each round (NNI's defaults); its seed is offset by the round.</summary>
    public AnnealingOptions Annealing { get; init; } = new();

    /// <summary>The ADMM of each round (NNI's example: 10 iterations of 1 epoch; its granularity is coarse, channels).</summary>
    public AdmmOptions Admm { get; init; } = new();

    /// <summary>How ADMM ranks a group's channels.</summary>
    public ChannelNorm Norm { get; init; } = ChannelNorm.L1;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range.</exception>
    public void Validate()
    {
        if (Rounds < 1) throw new ArgumentException($"AutoCompress rounds {Rounds}: need 1 or more");
        ArgumentNullException.ThrowIfNull(Annealing);
        ArgumentNullException.ThrowIfNull(Admm);
        Annealing.Validate();
        Admm.Validate();
    }
}

/// <summary>What AutoCompress produced: the final policy (as a search result over the original model's groups) and the
/// pruned, ADMM-trained model with the edits that made it from the factory's architecture.</summary>
/// <param name="Result">Method "autocompress": the final widths, their MACs and their score on the held-out data; the
/// history holds every annealing trial of every round (round = AutoCompress round).</param>
/// <param name="Model">The pruned model; the caller disposes it.</param>
/// <param name="Edits">Its edits (the given model's, then each round's shrink).</param>
public sealed record AutoCompressOutcome(SearchResult Result, nn.Module<Tensor, Tensor> Model, IReadOnlyList<ModelEdit> Edits);

/// <summary>
/// AutoCompress (Liu et al. 2020) as NNI v2.10's AutoCompressPruner runs it: round r of R prunes toward a MACs keep ratio of
/// T^(r/R) of the original (NNI's LotteryTicket schedule, 1 − (1 − s)^(r/R), on the MACs instead of the weights): simulated
/// annealing (<see cref="SimulatedAnnealingSearch"/>, each trial an L1-pruned copy scored without finetuning) picks the
/// groups' widths for the round's budget on the current model, ADMM (<see cref="AdmmPruning"/>, channel criterion) trains
/// the current model toward those widths and decides the channels, and the model editor shrinks them. The rounds compose:
/// the last round's budget is the total target.
/// </summary>
/// <remarks>Each round's search space is the current (already narrowed) model; its floor is floor^(1/R) of a group's current
/// width, so R rounds at their floors compose to the given floor of the original width (NNI has no floor).</remarks>
public static class AutoCompressSearch
{
    /// <summary>Runs AutoCompress on a copy of <paramref name="model"/> (which is not changed).</summary>
    /// <param name="task">Trains (ADMM's W-steps) and scores (annealing trials, the final policy).</param>
    /// <param name="factory">Builds a fresh model of the original architecture.</param>
    /// <param name="model">The trained model.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="train">Training batches of ADMM.</param>
    /// <param name="heldOut">Held-out training batches the trials are scored on.</param>
    /// <param name="targetMacsRatio">Total MACs keep ratio, in (0, 1).</param>
    /// <param name="floor">Smallest kept fraction of a group's original width.</param>
    /// <param name="roundTo">Channel multiple.</param>
    /// <param name="options">Rounds, annealing, ADMM.</param>
    /// <param name="edits">Edits that made <paramref name="model"/> from the factory's architecture.</param>
    /// <param name="logger">Progress.</param>
    /// <exception cref="ArgumentException">The target or floor cannot be met (the message names the reachable minimum).</exception>
    public static AutoCompressOutcome Run(TrainingTask task, Func<nn.Module<Tensor, Tensor>> factory, nn.Module<Tensor, Tensor> model,
        long[] inputShape, IBatchLoader train, IBatchLoader heldOut, double targetMacsRatio, double floor, int roundTo,
        AutoCompressOptions options, IReadOnlyList<ModelEdit>? edits = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        logger ??= NullLogger.Instance;
        // The original space fixes the total budget and checks the target against the floor before any training.
        var original = PolicySpace.Build(model, ModelGraph.Build(model, inputShape), targetMacsRatio, floor, roundTo);
        var log = new TrialLog("autocompress", original);
        var currentEdits = (edits ?? []).ToList();
        var current = ModelCopy.Create(factory, inputShape, currentEdits, model);
        try
        {
            double roundFloor = Math.Pow(floor, 1.0 / options.Rounds);
            for (int r = 1; r <= options.Rounds; r++)
            {
                long budget = r == options.Rounds ? original.Budget : (long)(original.FullMacs * Math.Pow(targetMacsRatio, (double)r / options.Rounds));
                var graph = ModelGraph.Build(current, inputShape);
                var space = PolicySpace.Build(current, graph, Math.Min(1, (double)budget / MacsOf(current, graph)), roundFloor, roundTo);
                var scorer = new TaskPolicyScorer(task, factory, current, inputShape, heldOut, roundTo, currentEdits);
                var annealing = SimulatedAnnealingSearch.Run(space, scorer, options.Annealing with { Seed = options.Annealing.Seed + r }, logger);
                foreach (var trial in annealing.History)
                    log.Add(r, ToOriginal(original, space, trial.Kept), trial.Score, trial.Reward);

                var widths = annealing.Best.KeptChannels;
                var targets = space.Groups.Where(g => widths[g.Id] < g.Channels)
                    .Select(g => (IAdmmTarget)new ChannelGroupTarget(g.Id, g.Producers, widths[g.Id], options.Norm)).ToList();
                if (targets.Count > 0)
                {
                    using var state = new AdmmState(current, targets, options.Admm.Rho);
                    var admm = AdmmPruning.Run(task, current, train, state, options.Admm with
                    {
                        Training = options.Admm.Training with { Seed = options.Admm.Training.Seed + 1000 * r },
                    }, logger);
                    var editor = new ModelEditor(current, inputShape, new ShrinkOptions { RoundTo = roundTo });
                    editor.ShrinkChannels(admm.KeptByGroup);
                    currentEdits.AddRange(editor.Edits);
                }
                logger.LogInformation("AutoCompress round {Round}/{Rounds}: MACs {Macs:N0} (round budget {Budget:N0}), widths {Widths}",
                    r, options.Rounds, MacsOf(current, ModelGraph.Build(current, inputShape)), budget,
                    string.Join(", ", space.Groups.Select(g => $"{g.Id} {widths[g.Id]}")));
            }
            var finalGraph = ModelGraph.Build(current, inputShape);
            var finalWidths = AllocatableGroup.Of(finalGraph).ToDictionary(g => g.Id, g => g.Channels);
            var kept = original.Groups.Select(g => finalWidths[g.Id]).ToArray();
            double raw = task.ScoreOf(current, heldOut);
            var score = new PolicyScore(task.Score.HigherIsBetter ? raw : -raw, current.parameters().Sum(p => p.numel()));
            double reward = PolicyReward.Of(options.Annealing.Reward, score, original.MacsOf(kept));
            var best = RatioPolicy.Of("autocompress", original, kept, score.Score, reward);
            return new AutoCompressOutcome(new SearchResult(best, log.Result().History), current, currentEdits);
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    private static long MacsOf(nn.Module<Tensor, Tensor> model, ModelGraph graph)
    {
        var groups = AllocatableGroup.Of(graph);
        return MacsModel.Build(model, graph, groups).FullMacs;
    }

    private static int[] ToOriginal(PolicySpace original, PolicySpace round, IReadOnlyList<int> kept)
    {
        var byId = round.ById(kept);
        return original.Groups.Select(g => byId[g.Id]).ToArray();
    }
}
