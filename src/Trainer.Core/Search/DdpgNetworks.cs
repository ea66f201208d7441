using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>AMC's actor: state → fc 300 → ReLU → fc 300 → ReLU → fc 1 → sigmoid (a keep ratio in (0, 1)).</summary>
internal sealed class DdpgActor : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2, fc3;

    public DdpgActor(int states, int hidden1, int hidden2) : base(nameof(DdpgActor))
    {
        fc1 = nn.Linear(states, hidden1);
        fc2 = nn.Linear(hidden1, hidden2);
        fc3 = nn.Linear(hidden2, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor state) =>
        fc3.call(fc2.call(fc1.call(state).relu()).relu()).sigmoid();
}

/// <summary>AMC's critic: relu(fc(state) + fc(action)) → fc 300 → ReLU → fc 1 (the action's value).</summary>
internal sealed class DdpgCritic : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear fc11, fc12, fc2, fc3;

    public DdpgCritic(int states, int hidden1, int hidden2) : base(nameof(DdpgCritic))
    {
        fc11 = nn.Linear(states, hidden1);
        fc12 = nn.Linear(1, hidden1);
        fc2 = nn.Linear(hidden1, hidden2);
        fc3 = nn.Linear(hidden2, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor state, Tensor action) =>
        fc3.call(fc2.call((fc11.call(state) + fc12.call(action)).relu()).relu());
}

/// <summary>One step of an episode as the replay buffer keeps it; its reward is the episode's.</summary>
internal sealed record Transition(float[] State, float Action, float Reward, float[] Next, bool Terminal);

/// <summary>
/// AMC's replay memory (keras-rl's SequentialMemory, window 1): a ring of the latest transitions; a batch is drawn without
/// replacement when there are enough, else with replacement. Transitions are kept whole (state, action, reward, next, done)
/// rather than as AMC's sequence of observations, whose index shift skips the first step of every episode.
/// </summary>
internal sealed class ReplayBuffer(int capacity)
{
    private readonly Transition[] ring = new Transition[capacity];
    private int start;

    public int Count { get; private set; }

    public void Add(Transition transition)
    {
        if (Count < capacity) ring[(start + Count++) % capacity] = transition;
        else
        {
            ring[start] = transition;
            start = (start + 1) % capacity;
        }
    }

    public Transition[] Sample(int size, Random random)
    {
        if (Count == 0) throw new InvalidOperationException("the replay buffer is empty");
        var batch = new Transition[size];
        if (Count >= size)
        {
            // Partial Fisher–Yates: `size` distinct indices.
            var index = Enumerable.Range(0, Count).ToArray();
            for (int i = 0; i < size; i++)
            {
                int j = random.Next(i, Count);
                (index[i], index[j]) = (index[j], index[i]);
                batch[i] = ring[(start + index[i]) % capacity];
            }
        }
        else
        {
            for (int i = 0; i < size; i++) batch[i] = ring[(start + random.Next(Count)) % capacity];
        }
        return batch;
    }
}

/// <summary>Draws from a normal distribution truncated to [lower, upper] (scipy's truncnorm as AMC uses it).</summary>
internal static class TruncatedNormal
{
    public static double Sample(Random random, double mu, double sigma, double lower, double upper)
    {
        if (sigma <= 0) return Math.Clamp(mu, lower, upper);
        // Rejection from the normal: the actor's mean lies in (0, 1), so at least about a third of draws land inside.
        for (int attempt = 0; attempt < 10_000; attempt++)
        {
            double x = mu + sigma * StandardNormal(random);
            if (x >= lower && x <= upper) return x;
        }
        return Math.Clamp(mu, lower, upper);
    }

    private static double StandardNormal(Random random)
    {
        // Box–Muller; 1 − NextDouble() is in (0, 1], so the log is finite.
        double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
