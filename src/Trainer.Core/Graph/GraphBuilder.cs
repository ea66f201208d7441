using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Trainer.Core.Analysis;
using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>
/// Runs the analysis behind <see cref="ModelGraph.Build"/>: one discovery pass (layers, order, shapes,
/// call counts), then one marker pass per producer, then edges and groups.
/// </summary>
internal static class GraphBuilder
{
    /// <summary>Analyses <paramref name="model"/> on an input of <paramref name="inputShape"/>.</summary>
    public static ModelGraph Build(nn.Module<Tensor, Tensor> model, long[] inputShape, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape {Shapes.Format(inputShape)} must have positive dimensions", nameof(inputShape));

        var clock = Stopwatch.StartNew();
        var catalog = ModuleCatalog.Of(model);
        var problems = new List<GraphProblem>();
        problems.AddRange(Unobservable(catalog));

        using var mode = new Models.EvalModeScope(model);
        using var session = new ProbeSession(model, catalog, inputShape, logger);

        var discovery = new DiscoveryObserver();
        if (session.Run(discovery, producer: null) is { } failure)
        {
            var type = failure.Layer.Module.GetType().Name;
            throw new ModelAnalysisException(failure.Layer.Name, type, failure.InputShape, failure.Error);
        }
        var layers = discovery.Layers();
        problems.AddRange(discovery.Problems());
        var byName = layers.ToDictionary(l => l.Name);
        var producers = layers.Where(l => l.IsProducerKind && l.CallCount == 1).ToList();
        var entries = catalog.Entries.Where(e => e.IsLayer).ToDictionary(e => e.Name);

        var traces = new List<ProducerTrace>();
        foreach (var producer in producers)
        {
            var observer = new MarkerObserver(session);
            if (session.Run(observer, entries[producer.Name]) is { } passFailure)
            {
                problems.Add(new GraphProblem(GraphProblemKind.MarkerPassFailed, producer.Name,
                    $"the marker pass of '{producer.Name}' failed in '{passFailure.Layer.Name}': {passFailure.Error.Message}",
                    producer.Name));
                continue;
            }
            traces.Add(new ProducerTrace(producer.Name, producer.Channels ?? 0, observer.Reached));
        }

        string? Diagnose(ProducerTrace trace)
        {
            var observer = new DiagnosisObserver(session, trace.Channels);
            session.Run(observer, entries[trace.Producer]);
            return observer.Culprit;
        }

        var edges = GraphAssembler.Edges(byName, traces, problems, Diagnose);
        problems.AddRange(session.HookProblems);
        var groups = GraphAssembler.Groups(producers, byName, edges, problems);
        clock.Stop();

        foreach (var p in problems) logger.LogWarning("Graph problem: {Problem}", p);
        logger.LogInformation(
            "Graph of {Model} on {Shape}: {Layers} layers, {Producers} producers, {Groups} groups ({Coupled} coupled), {Problems} problems, {Ms} ms",
            model.GetType().Name, Shapes.Format(inputShape), layers.Count, producers.Count, groups.Count,
            groups.Count(g => g.IsCoupled), problems.Count, clock.ElapsedMilliseconds);
        return new ModelGraph(inputShape, layers, producers.Select(p => p.Name).ToList(), edges, groups, problems, clock.Elapsed);
    }

    private static IEnumerable<GraphProblem> Unobservable(ModuleCatalog catalog)
    {
        foreach (var e in catalog.Entries)
        {
            var type = e.Module.GetType().Name;
            if (e.Hookable is null && e.Module.named_parameters(recurse: false).Any())
                yield return new GraphProblem(GraphProblemKind.Unobservable, e.Name,
                    $"module '{e.Name}' ({type}) has parameters but does not take and return one tensor, so hooks cannot observe it");
            else if (e.IsRoot && e.Kind == LayerKind.Unknown && !e.IsLayer)
                yield return new GraphProblem(GraphProblemKind.UnsupportedLayer, e.Name,
                    $"the model ({type}) has parameters of its own, used in functional code the graph cannot see");
        }
    }
}
