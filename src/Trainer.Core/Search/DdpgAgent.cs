using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// AMC's DDPG agent (<c>lib/agent.py</c>): actor and critic with target copies (hard-copied at start, soft-updated by tau
/// after each update), Adam for both, a replay buffer, truncated-normal exploration around the actor's action whose width
/// decays per episode after warm-up, and a moving-average reward baseline subtracted from each batch's rewards.
/// </summary>
internal sealed class DdpgAgent : IDisposable
{
    private readonly DdpgOptions options;
    private readonly DdpgActor actor, actorTarget;
    private readonly DdpgCritic critic, criticTarget;
    private readonly optim.Optimizer actorOptimizer, criticOptimizer;
    private readonly ReplayBuffer memory;
    private readonly Random random;
    private double? baseline;

    public DdpgAgent(int states, int capacity, DdpgOptions options)
    {
        this.options = options;
        random = new Random(options.Seed);
        // The networks' initial weights come from the seed, without moving the caller's torch generator.
        using (RandomState.Preserve())
        {
            manual_seed(options.Seed);
            actor = new DdpgActor(states, options.Hidden1, options.Hidden2);
            actorTarget = new DdpgActor(states, options.Hidden1, options.Hidden2);
            critic = new DdpgCritic(states, options.Hidden1, options.Hidden2);
            criticTarget = new DdpgCritic(states, options.Hidden1, options.Hidden2);
        }
        HardUpdate(actorTarget, actor);
        HardUpdate(criticTarget, critic);
        actorOptimizer = optim.Adam(actor.parameters(), options.ActorLearningRate);
        criticOptimizer = optim.Adam(critic.parameters(), options.CriticLearningRate);
        memory = new ReplayBuffer(capacity);
    }

    /// <summary>The moving-average reward baseline, null before the first update.</summary>
    public double? Baseline => baseline;

    /// <summary>A uniform keep ratio in [0, 1] (warm-up).</summary>
    public double RandomAction() => random.NextDouble();

    /// <summary>The actor's ratio for <paramref name="state"/>, perturbed by the truncated normal of this episode's width.</summary>
    public double SelectAction(float[] state, int episode)
    {
        double mu = Act(state);
        double delta = options.InitialDelta * Math.Pow(options.DeltaDecay, episode - options.WarmupEpisodes);
        return Math.Clamp(TruncatedNormal.Sample(random, mu, delta, 0, 1), 0, 1);
    }

    /// <summary>The actor's ratio for <paramref name="state"/>, without exploration.</summary>
    public double Act(float[] state)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return actor.call(tensor(state).unsqueeze(0)).item<float>();
    }

    /// <summary>Stores a transition.</summary>
    public void Observe(Transition transition) => memory.Add(transition);

    /// <summary>One DDPG update on a batch from the buffer, then the soft target updates.</summary>
    public void Update()
    {
        var batch = memory.Sample(options.BatchSize, random);
        double mean = batch.Average(t => (double)t.Reward);
        baseline = baseline is { } b ? b + options.BaselineAlpha * (mean - b) : mean;

        using var scope = NewDisposeScope();
        int n = batch.Length, s = batch[0].State.Length;
        var states = tensor(batch.SelectMany(t => t.State).ToArray()).reshape(n, s);
        var next = tensor(batch.SelectMany(t => t.Next).ToArray()).reshape(n, s);
        var actions = tensor(batch.Select(t => t.Action).ToArray()).reshape(n, 1);
        var rewards = tensor(batch.Select(t => (float)(t.Reward - baseline.Value)).ToArray()).reshape(n, 1);
        var notDone = tensor(batch.Select(t => t.Terminal ? 0f : 1f).ToArray()).reshape(n, 1);

        Tensor target;
        using (no_grad())
            target = rewards + (float)options.Discount * notDone * criticTarget.call(next, actorTarget.call(next));

        criticOptimizer.zero_grad();
        var valueLoss = nn.functional.mse_loss(critic.call(states, actions), target);
        valueLoss.backward();
        criticOptimizer.step();

        actorOptimizer.zero_grad();
        var policyLoss = -critic.call(states, actor.call(states)).mean();
        policyLoss.backward();
        actorOptimizer.step();

        SoftUpdate(actorTarget, actor);
        SoftUpdate(criticTarget, critic);
    }

    public void Dispose()
    {
        actorOptimizer.Dispose();
        criticOptimizer.Dispose();
        actor.Dispose();
        actorTarget.Dispose();
        critic.Dispose();
        criticTarget.Dispose();
    }

    private void SoftUpdate(nn.Module target, nn.Module source)
    {
        using var _ = no_grad();
        foreach (var (t, p) in target.parameters().Zip(source.parameters()))
            t.mul_(1 - options.Tau).add_(p, alpha: options.Tau);
    }

    private static void HardUpdate(nn.Module target, nn.Module source)
    {
        using var _ = no_grad();
        foreach (var (t, p) in target.parameters().Zip(source.parameters())) t.copy_(p);
    }
}
